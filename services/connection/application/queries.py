"""What callers may read, from the read models (any instance answers), tenancy applied; reading one's own writes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterator, Sequence

from services.connection.application.service import ConnectionService
from services.connection.domain.matching import VulnerabilityCriteria, affected
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


REACH_SCAN_LIMIT = 50_000
"""The most connections a preview of a vulnerability's reach reads (beyond it the answer says it is incomplete)."""


@dataclass(frozen=True)
class _Unit:
    id: str
    kind: str
    maker: str
    model: str
    firmware: str


def vulnerability_reach(
    service: ConnectionService, criteria: VulnerabilityCriteria, smart_meter_ids: Sequence[str]
) -> dict[str, Any]:
    """How many connections of how many operators a vulnerability with these criteria concerns now — by the rule
    the owners block with (``matching.affected``), over the read model's ``model`` and ``meter`` tags (the
    candidates only, never every connection) — and the policy that would decide for them."""
    docs = service.views.docs
    operator_of: dict[str, str] = {}
    read = {"count": 0, "complete": True}

    def found(where: dict[str, Any]) -> Iterator[dict[str, Any]]:
        offset = 0
        while True:
            page, total = docs.query(CONNECTIONS, where=where, offset=offset, limit=500, newest_first=False)
            for doc in page:
                public = doc["public"]
                operator_of[public["id"]] = public["operator_id"]
                yield public
            offset += len(page)
            read["count"] += len(page)
            if not page or offset >= total:
                return
            if read["count"] >= REACH_SCAN_LIMIT:
                read["complete"] = False
                return

    def on_meters(meters: Sequence[str]) -> list[str]:
        return [public["id"] for public in found({"meter": list(dict.fromkeys(meters))})]

    def candidates(model_key: str) -> Iterator[_Unit]:
        for p in found({"model": model_key}):
            yield _Unit(p["id"], p["kind"], p["maker"], p["model"], p["firmware"])

    matched = affected(criteria, smart_meter_ids, on_meters=on_meters, candidates=candidates)
    by_operator: dict[str, int] = {}
    for connection_id in matched:
        by_operator[operator_of[connection_id]] = by_operator.get(operator_of[connection_id], 0) + 1
    ranked = sorted(by_operator.items(), key=lambda item: (-item[1], item[0]))
    return {
        "connections": len(matched), "operators": len(by_operator),
        "by_operator": [{"operator_id": operator, "connections": n} for operator, n in ranked],
        "policy": policy(service.views.docs).get("serious_vulnerability", "off"), "complete": read["complete"],
    }  # fmt: skip


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
