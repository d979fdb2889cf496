"""HTTP routes of the utility's side: operators, block policy, recommendations, bulk approvals."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query

from services.connection.application import approvals, handlers, queries
from services.connection.application.service import ConnectionService
from services.connection.domain.commands import OnboardOperator
from services.connection.entrypoints.api import Service
from services.connection.entrypoints.schemas import (
    ApprovalCreate,
    BlockPolicyUpdate,
    Created,
    DecisionCreate,
    OperatorCreate,
    OperatorsPublic,
    RecommendationPublic,
)
from shared.auth import Parties, Readers, Soc, UtilityReaders
from shared.http import ExpectedVersion, IdempotencyKey, Offset, PathId, context_of
from shared.principal import Principal
from shared.repository import Saved

router = APIRouter(tags=["utility"])


@router.post("/operators", status_code=201, response_model=Created)
async def onboard_operator(body: OperatorCreate, principal: Soc, service: Service, key: IdempotencyKey) -> Created:
    """Onboard an operator with its agreement date (409 when it already is)."""
    cmd = OnboardOperator(operator_id=body.operator_id, name=body.name, agreement_date=body.agreement_date)
    context = context_of(principal, operator_id=body.operator_id)
    saved = await handlers.onboard_operator(service, cmd, context=context, key=key)
    await queries.settled(service, saved)
    return Created(id=saved.aggregate_id, version=saved.version)


@router.get("/operators", response_model=OperatorsPublic)
async def list_operators(
    principal: Readers, service: Service, offset: Offset = 0, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> dict[str, Any]:
    """Onboarded operators in id order, one bounded page at a time: all of them for utility roles and auditors,
    only itself for an operator."""
    return queries.operator_page(service, principal, offset=offset, limit=limit)


@router.get("/block-policy")
async def get_block_policy(_: UtilityReaders, service: Service) -> dict[str, str]:
    """The block policy in force: reason → auto, recommend or off."""
    return queries.block_policy(service)


@router.put("/block-policy")
async def put_block_policy(
    body: BlockPolicyUpdate, principal: Soc, service: Service, if_match: ExpectedVersion
) -> dict[str, str]:
    """Set the policy (a full or partial object); returns the whole policy."""
    changes = body.model_dump(exclude_none=True)
    saved, policy = await handlers.change_policy(
        service, changes, by=principal, context=context_of(principal), expected_version=if_match
    )
    await queries.settled(service, saved)
    return policy


@router.get("/block-recommendations", response_model=list[RecommendationPublic])
async def open_recommendations(
    _: UtilityReaders,
    service: Service,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[dict[str, Any]]:
    """Open block recommendations whose incident is still open, oldest first, one bounded page at a time (the SOC
    decides them; the desk and auditors read them)."""
    return queries.open_recommendations(service, offset=offset, limit=limit)


@router.post("/block-recommendations/{recommendation_id}/confirm")
async def confirm_recommendation(
    recommendation_id: PathId, body: DecisionCreate, principal: Soc, service: Service, if_match: ExpectedVersion
) -> dict[str, Any]:
    """Confirm: the connection is blocked for the recommendation's incident (409 once it is cleared).

    ``If-Match`` is the version of the connection the recommendation is about.
    """
    saved = await handlers.confirm_recommendation(
        service, recommendation_id, note=body.note, by=principal, context=context_of(principal), expected_version=if_match
    )
    return await _decided(service, principal, recommendation_id=recommendation_id, saved=saved)


@router.post("/block-recommendations/{recommendation_id}/reject")
async def reject_recommendation(
    recommendation_id: PathId, body: DecisionCreate, principal: Soc, service: Service, if_match: ExpectedVersion
) -> dict[str, Any]:
    """Reject: nothing is blocked. ``If-Match`` is the version of the connection the recommendation is about."""
    saved = await handlers.reject_recommendation(
        service, recommendation_id, note=body.note, by=principal, context=context_of(principal), expected_version=if_match
    )
    return await _decided(service, principal, recommendation_id=recommendation_id, saved=saved)


@router.post("/incidents/{incident_id}/approvals")
async def approve_incident_connections(
    incident_id: PathId, body: ApprovalCreate, principal: Parties, service: Service,
    authorization: Annotated[str, Header()],
) -> dict[str, Any]:
    """Bulk approval: the caller's side approves every connection this incident blocked that it may see."""
    done = await approvals.approve_for_incident(
        service, incident_id, note=body.note, by=principal, context=context_of(principal), credentials=authorization
    )
    return asdict(done)


async def _decided(service: ConnectionService, principal: Principal, *, recommendation_id: PathId, saved: Saved) -> dict[str, Any]:
    await queries.settled(service, saved)
    status = queries.connection(service, principal, saved.aggregate_id)["status"]
    return {"id": recommendation_id, "connection_id": saved.aggregate_id, "status": status, "version": saved.version}
