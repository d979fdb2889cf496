"""Turning the read model into HTTP answers (no secret ever leaves as more than a masked hint)."""

from __future__ import annotations

from services.connection.domain.state import EnforcementRequest
from services.connection.entrypoints.schemas import ConnectionPublic, HoldPublic, RequestPublic
from services.connection.projections.directory import ConnectionView

RECENT_REQUESTS = 10


def _state(request: EnforcementRequest) -> str:
    if not request.pending:
        return "enforced"
    return "escalated" if request.escalated else "pending"


def _enforcement(requests: list[RequestPublic]) -> str:
    if not requests:
        return "none"
    states = {r.state for r in requests}
    for state in ("escalated", "pending"):
        if state in states:
            return state
    return "enforced"


def connection_public(view: ConnectionView) -> ConnectionPublic:
    """The public shape of one connection."""
    c = view.connection
    requests = [
        RequestPublic(
            request_id=r.request_id,
            action=r.action,
            state=_state(r),  # type: ignore[arg-type]
            incident_id=r.incident_id,
            requested_at=view.requested_at.get(r.request_id),
            enforced_at=r.enforced_at,
            attempts=r.attempts,
            last_error=r.last_error,
        )
        for r in list(c.requests.values())[-RECENT_REQUESTS:]
    ]
    return ConnectionPublic(
        id=c.id,
        operator_id=c.operator_id,
        kind=c.kind,
        maker=c.maker,
        model=c.model,
        firmware=c.firmware,
        smart_meter_ids=list(c.smart_meter_ids),
        status=c.status,
        blocking_incidents=[
            HoldPublic(
                incident_id=h.incident_id,
                reason=h.reason,
                decided_by=h.decided_by.model_dump(),
                blocked_at=view.blocked_at.get(h.incident_id),
                request_id=h.request_id,
            )
            for h in c.holds.values()
        ],
        approvals={
            party: (c.approvals[party].decided_by.model_dump() | {"note": c.approvals[party].note})
            if party in c.approvals
            else None
            for party in ("utility", "operator")
        },
        enforcement=_enforcement([r for r in requests if r.state != "enforced"] or requests),  # type: ignore[arg-type]
        enforcement_requests=requests,
        compromised=c.compromised,
        compromised_by=sorted(c.compromised_by),
        secrets=dict(c.secrets.hints) if c.secrets else {},
        version=view.version,
        registered_at=view.registered_at,
        updated_at=view.updated_at,
    )
