"""Carrying out blocks and reconnections through the enforcement port, for the connections this instance owns.

A request is sent only once the decision that made it is committed: the worker looks only at
connections whose committed index says an enforcement request is pending (``find(..., committed=True)``),
and sends a request only while the committed index still names it. It hears of each commit
(``EventStore.on_commit``) and so starts a request as soon as its block lands; the sweep picks up
what a restart or a partition taken over brings, and escalates what waits too long. Requests of
one connection go out in order, one sender per connection; an acknowledged one is never sent again.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable, Sequence

from services.connection.application.enforcement import escalate_request, record_enforced, record_failure
from services.connection.application.ports import EnforcementCall, EnforcementError, EnforcementNotConfigured, EnforcementPort
from services.connection.application.queries import requested_at
from services.connection.application.service import ConnectionService
from services.connection.domain.model import Connection
from services.connection.domain.state import EnforcementRequest
from shared import tracing
from shared.backoff import Backoff
from shared.clock import utcnow
from shared.eventstore import NotOwner, StoreUnavailable
from shared.metrics import ENFORCEMENT_ESCALATIONS

log = logging.getLogger(__name__)
SWEEP_BATCH = 500
"""Connections a sweep looks at, at most (the next sweep goes on after the last one): each tick's work is bounded."""


class EnforcementWorker:
    """Sends committed pending requests of owned connections, records the outcome, escalates overdue ones."""

    def __init__(
        self, service: ConnectionService, port: EnforcementPort, *, backoff: Backoff, escalate_after: float,
        configured: bool = True,
    ) -> None:
        self.service, self.port, self.backoff, self.escalate_after = service, port, backoff, escalate_after
        self.configured = configured
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._swept = ""  # the last connection id the previous sweep looked at

    async def start(self) -> None:
        """Resume the owned connections with a committed pending request."""
        for connection_id in self.service.store.find("pending", "1", committed=True):
            self.submit(connection_id)

    async def stop(self) -> None:
        """Stop sending (pending requests stay pending in the stream)."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.port.close()

    def committed(self, connection_ids: Sequence[str]) -> None:
        """A commit changed these aggregates: carry out what they now ask for."""
        for connection_id in connection_ids:
            snapshot = self.service.store.snapshot(connection_id)
            if snapshot is not None and snapshot.index.get("pending"):
                self.submit(connection_id)

    def submit(self, connection_id: str) -> None:
        """Start carrying out a connection's committed pending requests (one sender per connection)."""
        if connection_id not in self._tasks:
            self._tasks[connection_id] = asyncio.create_task(self._drive(connection_id), name=f"enforce:{connection_id}")

    async def _drive(self, connection_id: str) -> None:
        attempts: dict[str, int] = {}
        try:
            while (call := self._next(connection_id)) is not None:
                try:
                    await self.port.send(call)
                except EnforcementNotConfigured as exc:
                    self._not_configured(call, str(exc))
                    return
                except EnforcementError as exc:
                    attempt = attempts[call.request_id] = attempts.get(call.request_id, 0) + 1
                    error = str(exc)
                    with tracing.attached(call.traceparent):  # the outcome joins the request's trace
                        await self._record(lambda: record_failure(self.service, connection_id, call.request_id, error=error))
                    await asyncio.sleep(self.backoff.delay(attempt))
                    continue
                with tracing.attached(call.traceparent):
                    await self._record_acknowledged(call)
        finally:
            self._tasks.pop(connection_id, None)

    def _next(self, connection_id: str) -> EnforcementCall | None:
        """The connection's first pending request, when its decision is committed here (None: nothing to send)."""
        found = self._committed_pending(connection_id)
        if found is None:
            return None
        connection, request = found
        return EnforcementCall(
            request_id=request.request_id, action=request.action, connection_id=connection_id,
            operator_id=connection.operator_id, smart_meter_ids=tuple(connection.smart_meter_ids),
            incident_id=request.incident_id, traceparent=tracing.latest(connection_id),
        )  # fmt: skip

    def _committed_pending(self, connection_id: str) -> tuple[Connection, EnforcementRequest] | None:
        store = self.service.store
        try:
            store.require_owner(connection_id)
        except NotOwner:  # the partition went to another instance: its worker carries on
            return None
        connection = self.service.connections.load(connection_id)
        request = next((r for r in connection.requests.values() if r.pending), None)
        if request is None or connection_id not in store.find("request", request.request_id, committed=True):
            return None  # nothing pending, or its decision is only staged (it may yet fail to commit)
        return connection, request

    async def _record_acknowledged(self, call: EnforcementCall) -> None:
        """The peer acknowledged: record it, retrying the record — never the request — while it is pending."""
        while (again := self._next(call.connection_id)) is not None and again.request_id == call.request_id:
            try:
                await record_enforced(self.service, call.connection_id, call.request_id, at=utcnow())
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
        """Escalate overdue committed requests; start a sender for each owned connection that lacks one.

        At most ``SWEEP_BATCH`` connections a sweep, going round the owned ones in id order.
        """
        pending = self.service.store.find("pending", "1", committed=True)
        batch = [c for c in pending if c > self._swept][:SWEEP_BATCH] or pending[:SWEEP_BATCH]
        self._swept = batch[-1] if batch else ""
        for connection_id in batch:
            try:
                await self._escalate_overdue(connection_id)
            except StoreUnavailable as exc:  # e.g. its partition just went elsewhere: the owner sweeps it
                log.warning("could not escalate; next sweep", extra={"connection_id": connection_id, "error": str(exc)})
            if self.configured:
                self.submit(connection_id)

    async def _escalate_overdue(self, connection_id: str) -> None:
        store = self.service.store
        store.require_owner(connection_id)
        for request in list(self.service.connections.load(connection_id).requests.values()):
            if not request.pending or request.escalated:
                continue
            if connection_id not in store.find("request", request.request_id, committed=True):
                continue
            since = requested_at(self.service, connection_id, request.request_id)
            waited = (utcnow() - since).total_seconds() if since else 0.0
            if waited >= self.escalate_after:
                log.warning(
                    "enforcement request not acknowledged in time: escalated",
                    extra={"request_id": request.request_id, "connection_id": connection_id, "waited_seconds": waited},
                )
                await escalate_request(self.service, connection_id, request.request_id, waited_seconds=round(waited, 3))
                ENFORCEMENT_ESCALATIONS.labels(request.action).inc()
