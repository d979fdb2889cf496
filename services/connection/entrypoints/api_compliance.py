"""HTTP routes of part 5: the operator's yearly records, status requests and answers, the status view."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from services.connection.application.compliance import ComplianceHandlers
from services.connection.entrypoints.api import actor_of
from services.connection.entrypoints.schemas_compliance import (
    AssessmentCreate,
    LeakageControlsCreate,
    StatusReportCreate,
    StatusRequestCreate,
    TrainingCreate,
)
from services.connection.domain.standing import attestation
from shared.auth import Principal, require_roles
from shared.http import IdempotencyKey, context_of
from shared.domain import not_found

router = APIRouter(tags=["compliance"])


def compliance_of(request: Request) -> ComplianceHandlers:
    """The service's part-5 handlers."""
    return request.app.state.compliance_handlers


def that_operator(operator_id: str, principal: Annotated[Principal, Depends(require_roles("operator"))]) -> Principal:
    """Staff of the operator in the path; another operator's path is a 404, a utility role a 403."""
    if principal.operator_id != operator_id:
        raise not_found("operator", operator_id)
    return principal


def reader(
    operator_id: str,
    principal: Annotated[Principal, Depends(require_roles("utility_soc", "utility_desk", "auditor", "operator"))],
) -> Principal:
    """Utility roles, auditors and that operator."""
    if not principal.may_see_operator(operator_id):
        raise not_found("operator", operator_id)
    return principal


Compliance = Annotated[ComplianceHandlers, Depends(compliance_of)]
ThatOperator = Annotated[Principal, Depends(that_operator)]
Reader = Annotated[Principal, Depends(reader)]
Soc = Annotated[Principal, Depends(require_roles("utility_soc"))]


@router.post("/operators/{operator_id}/risk-assessments", status_code=201)
async def record_assessment(
    operator_id: str, body: AssessmentCreate, principal: ThatOperator, handlers: Compliance, key: IdempotencyKey
) -> dict[str, Any]:
    """Record a risk assessment (not dated in the future)."""
    fields = body.model_dump(exclude={"date"})
    new = await handlers.record_assessment(
        operator_id, on=body.date, context=context_of(principal, operator_id=operator_id), key=key, **fields
    )
    return {"id": new, "operator_id": operator_id, "version": handlers.store.version(operator_id)}


@router.post("/operators/{operator_id}/trainings", status_code=201)
async def record_training(
    operator_id: str, body: TrainingCreate, principal: ThatOperator, handlers: Compliance, key: IdempotencyKey
) -> dict[str, Any]:
    """Record security education or an incident drill (not dated in the future)."""
    new = await handlers.record_training(
        operator_id, on=body.date, kind=body.kind, participants=body.participants,
        context=context_of(principal, operator_id=operator_id), key=key,
    )
    return {"id": new, "operator_id": operator_id, "version": handlers.store.version(operator_id)}


@router.post("/operators/{operator_id}/leakage-controls", status_code=201)
async def attest_leakage_controls(
    operator_id: str, body: LeakageControlsCreate, principal: ThatOperator, handlers: Compliance, key: IdempotencyKey
) -> dict[str, Any]:
    """Attest the controls protecting special-meter IDs, authentication IDs, passwords and Pairing IDs."""
    await handlers.attest(
        operator_id, on=body.date, controls=list(body.controls), attested_by=body.attested_by,
        coverage={k: list(v) for k, v in body.coverage.items()},
        context=context_of(principal, operator_id=operator_id), key=key,
    )
    in_force = attestation(handlers.operator(operator_id).attestation_in_force())
    return {"operator_id": operator_id, "version": handlers.store.version(operator_id), "in_force": in_force}


@router.post("/operators/{operator_id}/status-requests", status_code=201)
async def request_status(
    operator_id: str, body: StatusRequestCreate, principal: Soc, handlers: Compliance, key: IdempotencyKey
) -> dict[str, Any]:
    """The SOC asks the operator to show its status by ``reply_by``."""
    request_id = await handlers.request_status(
        operator_id, subject=body.subject, reply_by=body.reply_by, decided_by=actor_of(principal),
        context=context_of(principal, operator_id=operator_id), key=key,
    )
    return {"request_id": request_id, "id": request_id, "operator_id": operator_id, "reply_by": body.reply_by.isoformat()}


@router.post("/operators/{operator_id}/status-reports", status_code=201)
async def report_status(
    operator_id: str, body: StatusReportCreate, principal: ThatOperator, handlers: Compliance, key: IdempotencyKey
) -> dict[str, Any]:
    """Answer a status request; the report carries the records as they stand (404 unknown, 409 answered)."""
    records = await handlers.report_status(
        operator_id, request_id=body.request_id, summary=body.summary,
        context=context_of(principal, operator_id=operator_id), key=key,
    )
    return {"request_id": body.request_id, "operator_id": operator_id, "records": records}


@router.get("/operators/{operator_id}/compliance")
async def compliance(operator_id: str, _: Reader, handlers: Compliance) -> dict[str, Any]:
    """Last assessment and trainings, the attestation in force, overdue and upcoming items, open requests."""
    return handlers.standing(operator_id)
