"""Bulk approval: the caller's side approves every connection an incident blocked, wherever it is owned.

The connections may live on several instances' partitions: the owned ones are approved here, the
others by their owner (``Owners``: the single approval route on that instance, as the caller).
Each is a command of its own; one refused is skipped with the reason, the others go on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from services.connection.application.handlers import approve_reconnection
from services.connection.application.ports import OwnerRefused
from services.connection.application.queries import connections_blocked_by
from services.connection.application.service import ConnectionService
from shared.domain import DomainError, not_found
from shared.events.connection import ConnectionReconnected
from shared.eventstore import Context, NotOwner
from shared.principal import Principal


@dataclass(frozen=True)
class BulkApproval:
    """What a bulk approval did: approved, reconnected, and skipped with the reason."""

    incident_id: str
    party: str
    approved: list[str] = field(default_factory=list)
    reconnected: list[str] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)


async def approve_for_incident(
    service: ConnectionService, incident_id: str, *, note: str, by: Principal, context: Context, credentials: str
) -> BulkApproval:
    """The caller's side approves every connection the incident blocked that it may see (404 when none).

    ``credentials`` is the caller's Authorization header, shown to the owners of the others.
    """
    connection_ids = connections_blocked_by(service, by, incident_id)
    if not connection_ids:
        raise not_found("incident with blocked connections", incident_id)
    done = BulkApproval(incident_id, by.party)
    for connection_id in connection_ids:
        try:
            reconnected = await _approve(service, connection_id, note=note, by=by, context=context, credentials=credentials)
        except DomainError as exc:
            done.skipped.append({"id": connection_id, "reason": exc.message})
        except OwnerRefused as exc:
            done.skipped.append({"id": connection_id, "reason": exc.reason})
        else:
            done.approved.append(connection_id)
            if reconnected:
                done.reconnected.append(connection_id)
    return done


async def _approve(
    service: ConnectionService, connection_id: str, *, note: str, by: Principal, context: Context, credentials: str
) -> bool:
    """Approve one connection here when this instance owns it, else on its owner; whether it reconnected."""
    try:
        saved = await approve_reconnection(service, connection_id, note=note, by=by, context=context)
    except NotOwner as elsewhere:
        if elsewhere.owner is None:
            raise OwnerRefused("its partition is being rebalanced between instances: try again") from None
        return await service.owners.approve(elsewhere.owner, connection_id, note=note, credentials=credentials)
    return saved.first(ConnectionReconnected) is not None
