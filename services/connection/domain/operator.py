"""The Operator aggregate (onboarding); compliance records come later."""

from __future__ import annotations

from datetime import date

from shared.domain import Aggregate, Conflict
from shared.events import DomainEvent
from shared.events.operator import OperatorOnboarded


class Operator(Aggregate):
    """A user operator that signed the agreement with the utility."""

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.name = ""
        self.agreement_date: date | None = None

    @property
    def onboarded(self) -> bool:
        """Whether the utility onboarded it."""
        return self.agreement_date is not None

    def onboard(self, *, name: str, agreement_date: date) -> None:
        """Onboard with the agreement date; 409 when it already is."""
        if self.onboarded:
            raise Conflict(f"operator {self.id} is already onboarded")
        self._record(OperatorOnboarded(operator_id=self.id, name=name, agreement_date=agreement_date))

    def _apply(self, event: DomainEvent) -> None:
        if isinstance(event, OperatorOnboarded):
            self.name, self.agreement_date = event.name, event.agreement_date
