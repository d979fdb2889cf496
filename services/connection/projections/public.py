"""What callers may see of a connection, as plain JSON data; no secret ever leaves as more than a masked hint.

The HTTP routes answer with it (their response models validate it) and the replay snapshot is made
of it, so both show the same thing.
"""

from __future__ import annotations

from typing import Any

from pydantic_core import to_jsonable_python

from services.connection.domain.model import Connection
from services.connection.domain.state import EnforcementRequest

RECENT_REQUESTS = 10


def connection_public(c: Connection, times: dict[str, Any]) -> dict[str, Any]:
    """The public shape of one connection (``ConnectionPublic``), with the times its envelopes carried."""
    requests = [_request(r, times) for r in list(c.requests.values())[-RECENT_REQUESTS:]]
    return to_jsonable_python({
        "id": c.id, "operator_id": c.operator_id, "kind": c.kind, "maker": c.maker, "model": c.model,
        "firmware": c.firmware, "smart_meter_ids": list(c.smart_meter_ids), "status": c.status,
        "blocking_incidents": [
            {"incident_id": h.incident_id, "reason": h.reason, "decided_by": h.decided_by.model_dump(),
             "blocked_at": times["blocked_at"].get(h.incident_id), "request_id": h.request_id}
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
        "version": c.version, "registered_at": times["registered_at"], "updated_at": times["updated_at"],
    })  # fmt: skip


def _request(request: EnforcementRequest, times: dict[str, Any]) -> dict[str, Any]:
    state = "enforced" if not request.pending else "escalated" if request.escalated else "pending"
    return {
        "request_id": request.request_id, "action": request.action, "state": state,
        "incident_id": request.incident_id, "requested_at": times["requested_at"].get(request.request_id),
        "enforced_at": request.enforced_at, "attempts": request.attempts, "last_error": request.last_error,
    }  # fmt: skip


def _enforcement(requests: list[dict[str, Any]]) -> str:
    """The state that needs attention first: escalated, then pending, else enforced (none without requests)."""
    if not requests:
        return "none"
    states = {r["state"] for r in requests}
    return next((state for state in ("escalated", "pending") if state in states), "enforced")
