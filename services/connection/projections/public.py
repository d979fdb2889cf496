"""What callers may see of the read model, as plain JSON data: connections and block recommendations.

No secret ever leaves as more than a masked hint. The HTTP routes answer with these (their response
models validate them) and the replay snapshot is made of them, so both show the same thing.
"""

from __future__ import annotations

from typing import Any

from pydantic_core import to_jsonable_python

from services.connection.domain.state import EnforcementRequest
from services.connection.projections.directory import ConnectionView, Directory
from services.connection.projections.incidents import IncidentInfo

RECENT_REQUESTS = 10


def connection_public(view: ConnectionView) -> dict[str, Any]:
    """The public shape of one connection (``ConnectionPublic``)."""
    c = view.connection
    requests = [_request(view, r) for r in list(c.requests.values())[-RECENT_REQUESTS:]]
    return to_jsonable_python({
        "id": c.id, "operator_id": c.operator_id, "kind": c.kind, "maker": c.maker, "model": c.model,
        "firmware": c.firmware, "smart_meter_ids": list(c.smart_meter_ids), "status": c.status,
        "blocking_incidents": [
            {"incident_id": h.incident_id, "reason": h.reason, "decided_by": h.decided_by.model_dump(),
             "blocked_at": view.blocked_at.get(h.incident_id), "request_id": h.request_id}
            for h in c.holds.values()
        ],
        "approvals": {
            party: c.approvals[party].decided_by.model_dump() | {"note": c.approvals[party].note}
            if party in c.approvals else None
            for party in ("utility", "operator")
        },
        "enforcement": _enforcement([r for r in requests if r["state"] != "enforced"] or requests),
        "enforcement_requests": requests,
        "compromised": c.compromised, "compromised_by": sorted(c.compromised_by),
        "secrets": dict(c.secrets.hints) if c.secrets else {},
        "version": view.version, "registered_at": view.registered_at, "updated_at": view.updated_at,
    })  # fmt: skip


def _request(view: ConnectionView, request: EnforcementRequest) -> dict[str, Any]:
    state = "enforced" if not request.pending else "escalated" if request.escalated else "pending"
    return {
        "request_id": request.request_id, "action": request.action, "state": state,
        "incident_id": request.incident_id, "requested_at": view.requested_at.get(request.request_id),
        "enforced_at": request.enforced_at, "attempts": request.attempts, "last_error": request.last_error,
    }  # fmt: skip


def _enforcement(requests: list[dict[str, Any]]) -> str:
    """The state that needs attention first: escalated, then pending, else enforced (none without requests)."""
    if not requests:
        return "none"
    states = {r["state"] for r in requests}
    return next((state for state in ("escalated", "pending") if state in states), "enforced")


def recommendations(directory: Directory, incidents: dict[str, IncidentInfo]) -> dict[str, dict[str, Any]]:
    """Every block recommendation by id, with whether the SOC's work list shows it (``listed``)."""
    return {rec_id: _recommendation(directory, incidents, rec_id) for rec_id in sorted(directory.recommendations)}


def listed_recommendations(directory: Directory, incidents: dict[str, IncidentInfo]) -> list[dict[str, Any]]:
    """The recommendations an analyst still has to decide, oldest first (``RecommendationPublic``)."""
    rows = ({"id": rec_id, **_recommendation(directory, incidents, rec_id)} for rec_id in directory.recommendations)
    return [row for row in rows if row["listed"]]


def _recommendation(directory: Directory, incidents: dict[str, IncidentInfo], recommendation_id: str) -> dict[str, Any]:
    """One recommendation; it is listed while open and its incident is not cleared (the one rule for both)."""
    connection_id = directory.recommendations[recommendation_id]
    connection = directory.connections[connection_id].connection
    rec = connection.recommendations[recommendation_id]
    info = incidents.get(rec.incident_id)
    cleared = info is not None and info.status == "cleared"
    return {
        "connection_id": connection_id, "operator_id": connection.operator_id, "reason": rec.reason,
        "incident_id": rec.incident_id,
        "status": rec.status, "listed": rec.status == "open" and not cleared,
    }  # fmt: skip
