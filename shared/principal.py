"""Who is calling, and the tenancy rules that follow from it (pure: no HTTP, no tokens)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Literal

from shared.domain import Forbidden, NotFound

Role = Literal["utility_soc", "utility_desk", "operator", "sensor", "auditor"]
Party = Literal["utility", "operator"]
ROLES: tuple[str, ...] = ("utility_soc", "utility_desk", "operator", "sensor", "auditor")
UTILITY_ROLES = frozenset({"utility_soc", "utility_desk"})
READ_ALL_ROLES = frozenset({"utility_soc", "utility_desk", "auditor"})


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller."""

    sub: str
    role: str
    operator_id: str | None = None

    @property
    def is_utility(self) -> bool:
        """utility_soc or utility_desk."""
        return self.role in UTILITY_ROLES

    @property
    def party(self) -> Party:
        """The side of the agreement the caller is on: an operator's staff, or the utility."""
        return "operator" if self.role == "operator" else "utility"

    def may_see_operator(self, operator_id: str | None) -> bool:
        """Utility roles and auditors see every tenant; an operator only its own."""
        if self.role in READ_ALL_ROLES:
            return True
        return self.role == "operator" and operator_id is not None and operator_id == self.operator_id

    def may_see_any(self, operator_ids: Iterable[str]) -> bool:
        """Whether an object that concerns these operators is visible to the caller."""
        return self.role in READ_ALL_ROLES or (self.role == "operator" and self.operator_id in set(operator_ids))

    def acts_for(self, operator_id: str | None) -> str | None:
        """The tenant a write is for: an operator acts for itself only (403 for another); the utility names one."""
        if self.role != "operator":
            return operator_id
        if operator_id not in (None, self.operator_id):
            raise Forbidden("an operator acts for itself only: leave operator_id out or give your own")
        return self.operator_id

    def require_operator(self, operator_id: str, *, what: str = "operator") -> None:
        """For routes under an operator's path: another tenant's path looks like one that does not exist."""
        if not self.may_see_operator(operator_id):
            raise NotFound(f"{what} {operator_id} not found")
