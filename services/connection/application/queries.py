"""What callers may read, from the read models (any instance answers), tenancy applied; reading one's own writes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Sequence

from services.connection.application.service import ConnectionService
from services.connection.domain.model import Connection
from services.connection.projections.directory import CONNECTIONS, RECOMMENDATIONS
from services.connection.projections.operators import OPERATORS, POLICY, operator_row, operator_rows, policy
from services.connection.projections.readmodel import snapshot
from shared.domain import not_found
from shared.principal import Principal
from shared.repository import Saved
from shared.topics import CONNECTION_EVENTS, OPERATOR_EVENTS, POLICY_EVENTS

SETTLE_SECONDS = 5.0
"""How long an answer waits for the read models to show the write it answers for (they normally take milliseconds)."""
_SHOWN_IN = {CONNECTION_EVENTS: CONNECTIONS, OPERATOR_EVENTS: OPERATORS, POLICY_EVENTS: POLICY}


async def settled(service: ConnectionService, saved: Saved) -> None:
    """Wait until the read models show what ``saved`` appended (read your own writes); on time-out, go on."""
    if not saved.envelopes:
        return
    coll = _SHOWN_IN[type(saved.events[0]).topic]

    def shown(docs: Any) -> bool:
        doc = docs.get(coll, saved.aggregate_id)
        return doc is not None and doc["version"] >= saved.version

    await service.views.wait_for(shown, timeout=SETTLE_SECONDS)


async def settled_registrations(service: ConnectionService, connection_ids: Sequence[str]) -> None:
    """Wait until the read models show these new connections (given in the order they were staged); on time-out, go on.

    Each partition's events are applied in the order they were written, so the last of each partition shown
    means every one shown: only those are looked at.
    """
    last = {service.store.partition_of(i): i for i in connection_ids}
    shown = lambda docs: all(docs.get(CONNECTIONS, i) is not None for i in last.values())  # noqa: E731
    if last:
        await service.views.wait_for(shown, timeout=SETTLE_SECONDS)


def owned_connection(service: ConnectionService, principal: Principal, connection_id: str) -> Connection:
    """A connection the caller may see, from its owner's state (NotOwner elsewhere; 404 for another tenant's)."""
    service.store.require_owner(connection_id)
    found = service.connections.load(connection_id)
    if not found.exists or not principal.may_see_operator(found.operator_id):
        raise not_found("connection", connection_id)
    return found


def connection(service: ConnectionService, principal: Principal, connection_id: str) -> dict[str, Any]:
    """One connection as the caller may see it (``ConnectionPublic``), else 404."""
    doc = service.views.docs.get(CONNECTIONS, connection_id)
    if doc is None or not principal.may_see_operator(doc["public"]["operator_id"]):
        raise not_found("connection", connection_id)
    return doc["public"]


def connection_page(
    service: ConnectionService, principal: Principal, *, status: str | None, operator_id: str | None, offset: int,
    limit: int,
) -> dict[str, Any]:
    """A page of the connections the caller may see, in registration order (an operator sees its own only)."""
    if principal.role == "operator" and operator_id not in (None, principal.operator_id):
        return {"items": [], "total": 0, "offset": offset, "limit": limit, "next_offset": None}
    tenant = principal.operator_id if principal.role == "operator" else operator_id
    docs, total = service.views.docs.query(
        CONNECTIONS, where={"operator": tenant, "status": status}, offset=offset, limit=limit, newest_first=False
    )
    more = offset + limit < total
    return {
        "items": [doc["public"] for doc in docs], "total": total, "offset": offset, "limit": limit,
        "next_offset": offset + limit if more else None,
    }  # fmt: skip


def operator_page(service: ConnectionService, principal: Principal, *, offset: int, limit: int) -> dict[str, Any]:
    """A page of the onboarded operators the caller may see, in id order: every one for utility roles and
    auditors, only itself for an operator (an operator token without an operator id: none)."""
    docs = service.views.docs
    if principal.role == "operator":
        own = operator_row(docs, principal.operator_id) if principal.operator_id else None
        rows, total = ([own] if own and offset == 0 else []), (1 if own else 0)
    else:
        rows, total = operator_rows(docs, offset=offset, limit=limit)
    more = offset + limit < total
    return {"items": rows, "total": total, "offset": offset, "limit": limit, "next_offset": offset + limit if more else None}


def connections_blocked_by(service: ConnectionService, principal: Principal, incident_id: str) -> list[str]:
    """The connections an incident blocked (recently) that the caller may see, in registration order."""
    tenant = principal.operator_id if principal.role == "operator" else None
    found: list[str] = []
    while True:
        page, total = service.views.docs.query(
            CONNECTIONS, where={"incident": incident_id, "operator": tenant}, offset=len(found), limit=500,
            newest_first=False,
        )  # fmt: skip
        found += [doc["public"]["id"] for doc in page]
        if not page or len(found) >= total:
            return found


def recommendation_owner(service: ConnectionService, recommendation_id: str) -> str:
    """The connection a block recommendation is about, or 404."""
    doc = service.views.docs.get(RECOMMENDATIONS, recommendation_id)
    if doc is None:
        raise not_found("block recommendation", recommendation_id)
    return str(doc["connection_id"])


def open_recommendations(service: ConnectionService, *, offset: int = 0, limit: int = 100) -> list[dict[str, Any]]:
    """A page of the recommendations an analyst still has to decide (open, incident not cleared), oldest first."""
    docs, _ = service.views.docs.query(RECOMMENDATIONS, where={"listed": "1"}, offset=offset, limit=limit, newest_first=False)
    return docs


def block_policy(service: ConnectionService) -> dict[str, str]:
    """The block policy in force: reason → auto, recommend or off."""
    return policy(service.views.docs)


def requested_at(service: ConnectionService, connection_id: str, request_id: str) -> datetime | None:
    """When an enforcement request was made, once the read models know it."""
    doc = service.views.docs.get(CONNECTIONS, connection_id)
    at = doc["times"]["requested_at"].get(request_id) if doc else None
    return datetime.fromisoformat(at) if at else None


def read_model(service: ConnectionService) -> dict[str, Any]:
    """The live read models as one snapshot (the replay protocol compares it with the topics')."""
    return snapshot(service.views.docs)
