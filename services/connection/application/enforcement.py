"""Carrying out blocks and reconnections through the enforcement port, decided from our own events.

A request is pending while its ``ConnectionBlocked`` / ``ConnectionReconnected`` has no
``BlockEnforced`` / ``ReconnectEnforced``: at start every pending request is resumed, and one that
was acknowledged is never sent again. Requests of one connection go out in order; failures are
recorded and retried with exponential back-off; one not acknowledged in time is escalated.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from services.connection.application.handlers import ConnectionHandlers
from services.connection.application.ports import (
    EnforcementCall,
    EnforcementError,
    EnforcementNotConfigured,
    EnforcementPort,
)
from shared.envelope import utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Backoff:
    """Exponential back-off: ``base * 2**(attempt-1)``, at most ``cap`` seconds."""

    base: float
    cap: float

    def delay(self, attempt: int) -> float:
        """Seconds to wait after the ``attempt``-th failure."""
        return min(self.cap, self.base * 2 ** max(0, attempt - 1))


class EnforcementWorker:
    """Sends pending requests, records the outcome, escalates overdue ones."""

    def __init__(
        self,
        *,
        handlers: ConnectionHandlers,
        port: EnforcementPort,
        backoff: Backoff,
        escalate_after: float,
        sweep_every: float,
    ) -> None:
        self.handlers, self.directory, self.port = handlers, handlers.directory, port
        self.backoff, self.escalate_after, self.sweep_every = backoff, escalate_after, sweep_every
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._committed: set[str] = set()  # requests known to be in the topic (read at start or appended)
        self._locks: dict[str, asyncio.Lock] = {}
        self._sweeper: asyncio.Task[None] | None = None
        self.configured = True
        handlers.listeners.append(self.submit)

    async def start(self) -> None:
        """Resume every pending request and start the escalation sweep."""
        pending = dict(self.directory.pending_requests)
        if pending:
            log.info("resuming pending enforcement requests", extra={"pending": len(pending)})
        for request_id, connection_id in pending.items():
            self.submit(connection_id, request_id)
        self._sweeper = asyncio.create_task(self._sweep_loop(), name="enforcement-sweep")

    async def stop(self) -> None:
        """Stop sending (pending requests stay pending in the stream)."""
        tasks = [*self._tasks.values(), *([self._sweeper] if self._sweeper else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.port.close()

    def submit(self, connection_id: str, request_id: str) -> None:
        """Start carrying out a request (once at a time per request)."""
        self._committed.add(request_id)
        if request_id in self._tasks:
            return
        self._tasks[request_id] = asyncio.create_task(self._drive(connection_id, request_id), name=f"enforce:{request_id}")

    async def _drive(self, connection_id: str, request_id: str) -> None:
        lock = self._locks.setdefault(connection_id, asyncio.Lock())
        try:
            async with lock:
                attempt = 0
                while (call := self._call(connection_id, request_id)) is not None:
                    try:
                        await self.port.send(call)
                    except EnforcementNotConfigured as exc:
                        self._not_configured(call, str(exc))
                        return
                    except EnforcementError as exc:
                        attempt += 1
                        await self._record(self.handlers.record_failure(connection_id, request_id, error=str(exc)))
                        await asyncio.sleep(self.backoff.delay(attempt))
                        continue
                    await self._record_acknowledged(connection_id, request_id)
        finally:
            self._tasks.pop(request_id, None)

    def _call(self, connection_id: str, request_id: str) -> EnforcementCall | None:
        view = self.directory.get(connection_id)
        request = view.connection.requests.get(request_id) if view else None
        if view is None or request is None or not request.pending:
            return None
        return EnforcementCall(
            request_id=request_id,
            action=request.action,
            connection_id=connection_id,
            operator_id=view.connection.operator_id,
            smart_meter_ids=tuple(view.connection.smart_meter_ids),
            incident_id=request.incident_id,
        )

    async def _record_acknowledged(self, connection_id: str, request_id: str) -> None:
        """The peer acknowledged: record it, retrying the record — never the request — until it lands."""
        while self._call(connection_id, request_id) is not None:
            try:
                await self.handlers.record_enforced(connection_id, request_id, at=utcnow())
                return
            except Exception:  # e.g. a concurrent append to the same connection: record again
                log.exception("could not record an acknowledged enforcement request; recording again")
                await asyncio.sleep(min(self.backoff.base, 0.2))

    async def _record(self, append) -> None:  # type: ignore[no-untyped-def]
        """Record an outcome; while the store cannot append, wait and let the loop try again."""
        try:
            await append
        except Exception:
            log.exception("could not record an enforcement outcome; will retry")
            await asyncio.sleep(self.backoff.base)

    def _not_configured(self, call: EnforcementCall, reason: str) -> None:
        self.configured = False
        log.warning(
            "enforcement peer not configured: request left pending, nothing recorded as enforced",
            extra={"request_id": call.request_id, "action": call.action, "connection_id": call.connection_id, "reason": reason},
        )

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(self.sweep_every)
            try:
                await self.sweep()
            except Exception:
                log.exception("enforcement sweep failed")

    async def sweep(self) -> None:
        """Escalate overdue requests; restart a pending request that has no sender."""
        now = utcnow()
        for request_id, connection_id in list(self.directory.pending_requests.items()):
            view = self.directory.connections.get(connection_id)
            request = view.connection.requests.get(request_id) if view else None
            if view is None or request is None or not request.pending:
                continue
            waited = (now - view.requested_at[request_id]).total_seconds()
            if not request.escalated and waited >= self.escalate_after:
                log.warning(
                    "enforcement request not acknowledged in time: escalated",
                    extra={"request_id": request_id, "connection_id": connection_id, "waited_seconds": waited},
                )
                await self.handlers.escalate(connection_id, request_id, waited_seconds=round(waited, 3))
            if self.configured and request_id in self._committed and request_id not in self._tasks:
                self.submit(connection_id, request_id)
