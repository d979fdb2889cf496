"""Parts of a connection's state: holds, recommendations, enforcement requests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from shared.events.values import Actor, BlockReason


@dataclass
class Recommendation:
    """A block the policy recommended; an analyst confirms or rejects it."""

    recommendation_id: str
    reason: BlockReason
    incident_id: str
    status: Literal["open", "confirmed", "rejected"] = "open"


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


@dataclass
class Hold:
    """An incident that currently blocks the connection."""

    incident_id: str
    reason: BlockReason
    decided_by: Actor
    request_id: str
