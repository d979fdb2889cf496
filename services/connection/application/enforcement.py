"""Recording what became of enforcement requests: acknowledged, failed (attempt n), escalated.

A request is pending while its ``ConnectionBlocked`` / ``ConnectionReconnected`` has no
``BlockEnforced`` / ``ReconnectEnforced``; the worker (``application/worker.py``) sends it and
records the outcome through these handlers.
"""

from __future__ import annotations

from datetime import datetime

from services.connection.application.service import ConnectionService
from services.connection.domain.model import Connection
from shared.eventstore import Context
from shared.repository import Saved

ENFORCER = "smguard/connection:enforcement"


def _system(connection: Connection) -> Context:
    return Context(actor=ENFORCER, operator_id=connection.operator_id)


async def record_enforced(service: ConnectionService, connection_id: str, request_id: str, *, at: datetime) -> Saved:
    """The peer acknowledged a request (recorded once per request)."""
    return await service.connections.change(
        connection_id, lambda c: c.enforced(request_id, at=at), context=_system,
        idempotency_key=f"connection:enforced:{request_id}",
    )  # fmt: skip


async def record_failure(service: ConnectionService, connection_id: str, request_id: str, *, error: str) -> Saved:
    """An attempt failed (each failure is a fact of its own, numbered by the aggregate)."""
    return await service.connections.change(
        connection_id, lambda c: c.enforcement_failed(request_id, error=error), context=_system
    )


async def escalate_request(
    service: ConnectionService, connection_id: str, request_id: str, *, waited_seconds: float
) -> Saved:
    """A request was not acknowledged in time (escalated once per request)."""
    return await service.connections.change(
        connection_id, lambda c: c.escalate(request_id, waited_seconds=waited_seconds), context=_system,
        idempotency_key=f"connection:escalated:{request_id}",
    )  # fmt: skip
