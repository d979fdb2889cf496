"""Carrying out blocks and reconnections through the enforcement port, decided from our own events.

A request is sent only once the event that asks for it is committed: the service tells the worker
of every append that landed (``ConnectionService.committed``), and at start every pending request
read from the topics is resumed; one that was acknowledged is never sent again. Requests of one
connection go out in order; failures are recorded and retried with back-off; a request not
acknowledged in time is escalated (the sweep, run by a ``Periodic``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable

from services.connection.application.enforcement import escalate_request, record_enforced, record_failure
from services.connection.application.ports import (
    EnforcementCall,
    EnforcementError,
    EnforcementNotConfigured,
    EnforcementPort,
)
from services.connection.application.service import ConnectionService
from shared.backoff import Backoff
from shared.clock import utcnow
from shared.eventstore import AppendResult
from shared.events.connection import ConnectionBlocked, ConnectionReconnected
from shared.repository import Saved

log = logging.getLogger(__name__)


class EnforcementWorker:
    """Sends committed pending requests, records the outcome, escalates overdue ones."""

    def __init__(
        self, service: ConnectionService, port: EnforcementPort, *, backoff: Backoff, escalate_after: float,
        configured: bool = True,
    ) -> None:
        self.service, self.port, self.backoff, self.escalate_after = service, port, backoff, escalate_after
        self.configured = configured
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._committed: set[str] = set()  # requests known to be in the topic (read at start or appended)
        self._locks: dict[str, asyncio.Lock] = {}

    async def start(self) -> None:
        """Resume every pending request (what the store read at start is committed)."""
        pending = dict(self.service.directory.pending_requests)
        if pending:
            log.info("resuming pending enforcement requests", extra={"pending": len(pending)})
        for request_id, connection_id in pending.items():
            self.submit(connection_id, request_id)

    async def stop(self) -> None:
        """Stop sending (pending requests stay pending in the stream)."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.port.close()

    def requested(self, outcome: AppendResult | Saved) -> None:
        """An append landed: carry out the requests it made."""
        for envelope in outcome.envelopes:
            if isinstance(envelope.event, (ConnectionBlocked, ConnectionReconnected)):
                self.submit(envelope.subject, envelope.event.request_id)

    def submit(self, connection_id: str, request_id: str) -> None:
        """Start carrying out a committed request (one sender at a time per request)."""
        self._committed.add(request_id)
        if request_id not in self._tasks:
            task = asyncio.create_task(self._drive(connection_id, request_id), name=f"enforce:{request_id}")
            self._tasks[request_id] = task

    async def _drive(self, connection_id: str, request_id: str) -> None:
        try:
            async with self._locks.setdefault(connection_id, asyncio.Lock()):
                attempt = 0
                while (call := self._call(connection_id, request_id)) is not None:
                    try:
                        await self.port.send(call)
                    except EnforcementNotConfigured as exc:
                        self._not_configured(call, str(exc))
                        return
                    except EnforcementError as exc:
                        attempt, error = attempt + 1, str(exc)
                        await self._record(lambda: record_failure(self.service, connection_id, request_id, error=error))
                        await asyncio.sleep(self.backoff.delay(attempt))
                        continue
                    await self._record_acknowledged(connection_id, request_id)
        finally:
            self._tasks.pop(request_id, None)

    def _call(self, connection_id: str, request_id: str) -> EnforcementCall | None:
        view = self.service.directory.get(connection_id)
        request = view.connection.requests.get(request_id) if view else None
        if view is None or request is None or not request.pending:
            return None
        return EnforcementCall(
            request_id=request_id, action=request.action, connection_id=connection_id,
            operator_id=view.connection.operator_id, smart_meter_ids=tuple(view.connection.smart_meter_ids),
            incident_id=request.incident_id,
        )  # fmt: skip

    async def _record_acknowledged(self, connection_id: str, request_id: str) -> None:
        """The peer acknowledged: record it, retrying the record — never the request — until it lands."""
        while self._call(connection_id, request_id) is not None:
            try:
                await record_enforced(self.service, connection_id, request_id, at=utcnow())
                return
            except Exception:  # e.g. the store recovering from a broker error: record again
                log.exception("could not record an acknowledged enforcement request; recording again")
                await asyncio.sleep(min(self.backoff.base, 0.2))

    async def _record(self, append: Callable[[], Awaitable[object]]) -> None:
        """Record an outcome; while the store cannot append, wait and let the loop try again."""
        try:
            await append()
        except Exception:
            log.exception("could not record an enforcement outcome; will retry")
            await asyncio.sleep(self.backoff.base)

    def _not_configured(self, call: EnforcementCall, reason: str) -> None:
        self.configured = False
        log.warning(
            "enforcement peer not configured: request left pending, nothing recorded as enforced",
            extra={
                "request_id": call.request_id, "action": call.action, "connection_id": call.connection_id,
                "reason": reason,
            },  # fmt: skip
        )

    async def sweep(self) -> None:
        """Escalate overdue requests; restart a committed pending request that has no sender."""
        now, directory = utcnow(), self.service.directory
        for request_id, connection_id in list(directory.pending_requests.items()):
            view = directory.get(connection_id)
            request = view.connection.requests.get(request_id) if view else None
            if view is None or request is None or not request.pending:
                continue
            waited = (now - view.requested_at[request_id]).total_seconds()
            if not request.escalated and waited >= self.escalate_after:
                log.warning(
                    "enforcement request not acknowledged in time: escalated",
                    extra={"request_id": request_id, "connection_id": connection_id, "waited_seconds": waited},
                )
                await escalate_request(self.service, connection_id, request_id, waited_seconds=round(waited, 3))
            if self.configured and request_id in self._committed and request_id not in self._tasks:
                self.submit(connection_id, request_id)
