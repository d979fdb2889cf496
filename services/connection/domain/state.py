"""Parts of a connection's state: holds, recommendations, enforcement requests — and how they stay bounded."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, TypeVar

from shared.events.values import Actor, BlockReason

FINISHED_KEPT = 10
"""Finished enforcement requests (and decided recommendations) a connection keeps beside the open ones."""
INCIDENTS_KEPT = 100
"""Incidents a connection remembers having blocked it or leaked its credentials (the most recent)."""

T = TypeVar("T")


@dataclass
class Recommendation:
    """A block the policy recommended; an analyst confirms or rejects it."""

    recommendation_id: str
    reason: BlockReason
    incident_id: str
    status: Literal["open", "confirmed", "rejected"] = "open"

    @property
    def open(self) -> bool:
        """Not decided yet."""
        return self.status == "open"


@dataclass
class EnforcementRequest:
    """One request to the network access control to block or reconnect."""

    request_id: str
    action: Literal["block", "reconnect"]
    incident_id: str | None = None
    enforced_at: datetime | None = None
    attempts: int = 0
    last_error: str | None = None
    escalated: bool = False

    @property
    def pending(self) -> bool:
        """Requested but not acknowledged."""
        return self.enforced_at is None

    @property
    def open(self) -> bool:
        """Still to be carried out."""
        return self.pending


@dataclass
class Hold:
    """An incident that currently blocks the connection."""

    incident_id: str
    reason: BlockReason
    decided_by: Actor
    request_id: str


def keep_recent(items: dict[str, T], *, finished: int = FINISHED_KEPT) -> None:
    """Drop the oldest finished items (those whose ``open`` is False) beyond ``finished``; open ones all stay."""
    done = [key for key, item in items.items() if not item.open]  # type: ignore[attr-defined]
    for key in done[: max(0, len(done) - finished)]:
        del items[key]


def remember(seen: list[str], incident_id: str, *, kept: int = INCIDENTS_KEPT) -> None:
    """Add an incident id to a list of the most recent ones."""
    if incident_id not in seen:
        seen.append(incident_id)
        del seen[: max(0, len(seen) - kept)]
