"""HTTP routes of the utility's side: operators, block policy, recommendations, bulk approvals."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from services.connection.entrypoints.api import Handlers, Parties, Reactions, Soc, actor_of
from services.connection.entrypoints.schemas import (
    BlockPolicyUpdate,
    Created,
    DecisionCreate,
    OperatorCreate,
    RecommendationPublic,
    ApprovalCreate,
)
from shared.auth import Principal, require_roles
from shared.domain import Conflict, DomainError
from shared.http import IdempotencyKey, context_of
from shared.domain import not_found

router = APIRouter(tags=["utility"])
PolicyReaders = Annotated[Principal, Depends(require_roles("utility_soc", "utility_desk", "auditor"))]


@router.post("/operators", status_code=201, response_model=Created)
async def onboard_operator(body: OperatorCreate, principal: Soc, handlers: Handlers, key: IdempotencyKey) -> Created:
    """Onboard an operator with its agreement date (409 when it already is)."""
    await handlers.onboard_operator(
        body.operator_id,
        name=body.name,
        agreement_date=body.agreement_date,
        context=context_of(principal, operator_id=body.operator_id),
        idempotency_key=key,
    )
    return Created(id=body.operator_id, version=handlers.store.version(body.operator_id))


@router.get("/block-policy")
async def get_block_policy(_: PolicyReaders, handlers: Handlers) -> dict[str, str]:
    """The block policy in force: reason → auto, recommend or off."""
    return handlers.policy()


@router.put("/block-policy")
async def put_block_policy(body: BlockPolicyUpdate, principal: Soc, handlers: Handlers) -> dict[str, str]:
    """Set the policy (a full or partial object); returns the whole policy."""
    changes = body.model_dump(exclude_none=True)
    return await handlers.change_policy(changes, decided_by=actor_of(principal), context=context_of(principal))


@router.get("/block-recommendations", response_model=list[RecommendationPublic])
async def open_recommendations(_: Soc, handlers: Handlers, reactions: Reactions) -> list[RecommendationPublic]:
    """Open block recommendations whose incident is still open, oldest first."""
    found = []
    for recommendation_id, connection_id in handlers.directory.recommendations.items():
        view = handlers.directory.connections[connection_id]
        rec = view.connection.recommendations[recommendation_id]
        if rec.status == "open" and not reactions.cleared(rec.incident_id):
            found.append(
                RecommendationPublic(
                    id=recommendation_id,
                    connection_id=connection_id,
                    operator_id=view.connection.operator_id,
                    reason=rec.reason,
                    incident_id=rec.incident_id,
                )
            )
    return found


@router.post("/block-recommendations/{recommendation_id}/confirm")
async def confirm_recommendation(
    recommendation_id: str, body: DecisionCreate, principal: Soc, handlers: Handlers, reactions: Reactions
) -> dict[str, Any]:
    """Confirm: the connection is blocked for the recommendation's incident (409 once it is cleared)."""
    owner = handlers.directory.connections.get(handlers.recommendation_owner(recommendation_id))
    rec = owner.connection.recommendations.get(recommendation_id) if owner else None
    if rec is not None and reactions.cleared(rec.incident_id):
        raise Conflict(f"incident {rec.incident_id} is already cleared: there is nothing left to block for")
    connection_id = await handlers.confirm(
        recommendation_id, decided_by=actor_of(principal), note=body.note, context=context_of(principal)
    )
    view = handlers.directory.connections[connection_id]
    return {"id": recommendation_id, "connection_id": connection_id, "status": view.connection.status}


@router.post("/block-recommendations/{recommendation_id}/reject")
async def reject_recommendation(
    recommendation_id: str, body: DecisionCreate, principal: Soc, handlers: Handlers
) -> dict[str, Any]:
    """Reject: nothing is blocked."""
    connection_id = await handlers.reject(
        recommendation_id, decided_by=actor_of(principal), note=body.note, context=context_of(principal)
    )
    view = handlers.directory.connections[connection_id]
    return {"id": recommendation_id, "connection_id": connection_id, "status": view.connection.status}


@router.post("/incidents/{incident_id}/approvals")
async def approve_incident_connections(
    incident_id: str, body: ApprovalCreate, principal: Parties, handlers: Handlers
) -> dict[str, Any]:
    """Bulk approval: the caller's side approves every connection this incident blocked that it may see."""
    ids = sorted(handlers.directory.by_incident.get(incident_id, set()))
    views = [handlers.directory.connections[i] for i in ids]
    views = [v for v in views if principal.may_see_operator(v.connection.operator_id)]
    if not views:
        raise not_found("incident with blocked connections", incident_id)
    party = "utility" if principal.role == "utility_soc" else "operator"
    approved, reconnected, skipped = [], [], []
    for view in views:
        connection_id = view.connection.id
        try:
            done = await handlers.approve(
                connection_id, party=party, decided_by=actor_of(principal), note=body.note,
                context=context_of(principal, operator_id=view.connection.operator_id),
            )
        except DomainError as exc:
            skipped.append({"id": connection_id, "reason": exc.message})
            continue
        approved.append(connection_id)
        if done:
            reconnected.append(connection_id)
    return {"incident_id": incident_id, "party": party, "approved": approved, "reconnected": reconnected, "skipped": skipped}
