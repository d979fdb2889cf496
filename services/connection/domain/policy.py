"""The utility's block policy: per block reason, ``auto``, ``recommend`` or ``off``."""

from __future__ import annotations

from typing import Mapping

from shared.domain import Aggregate, Invalid
from shared.events import DomainEvent
from shared.events.connection import BlockPolicyChanged
from shared.events.values import Actor, BlockReason, PolicyMode

POLICY_ID = "block-policy"
REASONS: tuple[BlockReason, ...] = ("serious_vulnerability", "unauthorized_access", "abnormal_communication")
MODES: frozenset[str] = frozenset({"auto", "recommend", "off"})

DEFAULT_POLICY: dict[BlockReason, PolicyMode] = {
    # A declared serious vulnerability and an unauthorized access are unambiguous enough to block at once;
    # abnormal communication has innocent causes (firmware updates, clock drift), so an analyst decides.
    "serious_vulnerability": "auto",
    "unauthorized_access": "auto",
    "abnormal_communication": "recommend",
}


def policy_actor(reason: str, mode: str) -> Actor:
    """The Actor of a block the policy decided, e.g. ``block-policy:unauthorized_access:auto``."""
    return Actor(kind="policy", id=f"{POLICY_ID}:{reason}:{mode}")


class BlockPolicy(Aggregate):
    """The one block policy of the utility (stream ``block-policy``, written by the owner of its partition)."""

    modes: dict[BlockReason, PolicyMode]

    def __init__(self, aggregate_id: str = POLICY_ID) -> None:
        super().__init__(aggregate_id)
        self.modes: dict[BlockReason, PolicyMode] = dict(DEFAULT_POLICY)

    @property
    def exists(self) -> bool:
        """The policy is always in force: the defaults until the utility changes it."""
        return True

    def change(self, changes: Mapping[str, str], *, decided_by: Actor) -> None:
        """Set the mode of some or all reasons; the event carries the whole resulting policy."""
        if not changes:
            raise Invalid("give the mode of at least one block reason")
        for reason, mode in changes.items():
            if reason not in REASONS:
                raise Invalid(f"unknown block reason {reason!r}; one of {', '.join(REASONS)}")
            if mode not in MODES:
                raise Invalid(f"unknown mode {mode!r} for {reason}; one of auto, recommend, off")
        policy = {**self.modes, **changes}
        self._record(BlockPolicyChanged(policy=policy, decided_by=decided_by))  # type: ignore[arg-type]

    def _apply(self, event: DomainEvent) -> None:
        if isinstance(event, BlockPolicyChanged):
            self.modes = {**DEFAULT_POLICY, **event.policy}
