"""What a connection records about enforcement: acknowledgements, failed attempts, escalation.

Only the pending requests and the latest finished ones are kept (``state.keep_recent``): a
connection blocked and reconnected for years does not carry every request it ever made.
"""

from __future__ import annotations

from datetime import datetime
from typing import Callable

from services.connection.domain.state import EnforcementRequest, keep_recent
from shared.events import DomainEvent
from shared.events.connection import BlockEnforced, BlockEnforcementFailed, EnforcementEscalated, ReconnectEnforced


class EnforcementRecords:
    """Decisions on enforcement requests and their state changes (mixed into the Connection aggregate)."""

    requests: dict[str, EnforcementRequest]

    _ids: Callable[[], dict[str, str]]
    _record: Callable[[DomainEvent], None]

    def enforced(self, request_id: str, *, at: datetime) -> bool:
        """The network access control acknowledged a request (once)."""
        request = self.requests.get(request_id)
        if request is None or not request.pending:
            return False
        event_type = BlockEnforced if request.action == "block" else ReconnectEnforced
        self._record(event_type(**self._ids(), request_id=request_id, enforced_at=at))
        return True

    def enforcement_failed(self, request_id: str, *, error: str) -> bool:
        """An attempt failed; recorded with its attempt number."""
        request = self.requests.get(request_id)
        if request is None or not request.pending:
            return False
        self._record(
            BlockEnforcementFailed(
                **self._ids(), request_id=request_id, action=request.action,
                attempt=request.attempts + 1, error=error[:500],
            )
        )
        return True

    def escalate(self, request_id: str, *, waited_seconds: float) -> bool:
        """The request was not acknowledged in time (once per request)."""
        request = self.requests.get(request_id)
        if request is None or not request.pending or request.escalated:
            return False
        self._record(
            EnforcementEscalated(
                **self._ids(), request_id=request_id, action=request.action, waited_seconds=waited_seconds
            )
        )
        return True

    def _on_BlockEnforced(self, e: BlockEnforced | ReconnectEnforced) -> None:
        if e.request_id in self.requests:
            self.requests[e.request_id].enforced_at = e.enforced_at
            keep_recent(self.requests)

    _on_ReconnectEnforced = _on_BlockEnforced

    def _on_BlockEnforcementFailed(self, e: BlockEnforcementFailed) -> None:
        request = self.requests.get(e.request_id)
        if request is not None:
            request.attempts, request.last_error = e.attempt, e.error

    def _on_EnforcementEscalated(self, e: EnforcementEscalated) -> None:
        if e.request_id in self.requests:
            self.requests[e.request_id].escalated = True
