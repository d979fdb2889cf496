"""HTTP routes of part 5: the operator's yearly records, status requests and answers, the status view.

The record routes are for that operator's own staff: another operator's path is a 404 (as if it did
not exist), a utility role a 403. ``If-Match`` is the operator's version (each answer carries it).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from services.connection.application import compliance, queries
from services.connection.domain.commands import (
    AttestLeakageControls,
    RecordAssessment,
    RecordTraining,
    ReportStatus,
    RequestStatus,
)
from services.connection.entrypoints.api import Service
from services.connection.entrypoints.schemas import (
    AssessmentCreate,
    LeakageControlsCreate,
    StatusReportCreate,
    StatusRequestCreate,
    TrainingCreate,
)
from shared.auth import Readers, Soc, require_roles
from shared.events.operator import RiskAssessmentRecorded, StatusRequested, TrainingRecorded
from shared.http import ExpectedVersion, IdempotencyKey, PathId, context_of
from shared.principal import Principal

router = APIRouter(tags=["compliance"])


async def that_operator(operator_id: PathId, principal: Annotated[Principal, Depends(require_roles("operator"))]) -> Principal:
    """Staff of the operator in the path (another operator's path is a 404)."""
    principal.require_operator(operator_id)
    return principal


async def reader(operator_id: PathId, principal: Readers) -> Principal:
    """Utility roles, auditors and that operator."""
    principal.require_operator(operator_id)
    return principal


ThatOperator = Annotated[Principal, Depends(that_operator)]
Reader = Annotated[Principal, Depends(reader)]


@router.post("/operators/{operator_id}/risk-assessments", status_code=201)
async def record_assessment(
    operator_id: PathId, body: AssessmentCreate, principal: ThatOperator, service: Service, key: IdempotencyKey,
    if_match: ExpectedVersion,
) -> dict[str, Any]:
    """Record a risk assessment (not dated in the future)."""
    cmd = RecordAssessment(on=body.date, **body.model_dump(exclude={"date"}))
    saved = await compliance.record_assessment(
        service, operator_id, cmd, context=context_of(principal, operator_id=operator_id), expected_version=if_match,
        key=key,
    )  # fmt: skip
    await queries.settled(service, saved)
    recorded = saved.first(RiskAssessmentRecorded)
    return {"id": recorded.assessment_id if recorded else None, "operator_id": operator_id, "version": saved.version}


@router.post("/operators/{operator_id}/trainings", status_code=201)
async def record_training(
    operator_id: PathId, body: TrainingCreate, principal: ThatOperator, service: Service, key: IdempotencyKey,
    if_match: ExpectedVersion,
) -> dict[str, Any]:
    """Record security education or an incident drill (not dated in the future)."""
    cmd = RecordTraining(on=body.date, kind=body.kind, participants=body.participants)
    saved = await compliance.record_training(
        service, operator_id, cmd, context=context_of(principal, operator_id=operator_id), expected_version=if_match,
        key=key,
    )  # fmt: skip
    await queries.settled(service, saved)
    recorded = saved.first(TrainingRecorded)
    return {"id": recorded.training_id if recorded else None, "operator_id": operator_id, "version": saved.version}


@router.post("/operators/{operator_id}/leakage-controls", status_code=201)
async def attest_leakage_controls(
    operator_id: PathId, body: LeakageControlsCreate, principal: ThatOperator, service: Service, key: IdempotencyKey,
    if_match: ExpectedVersion,
) -> dict[str, Any]:
    """Attest the controls protecting special-meter IDs, authentication IDs, passwords and Pairing IDs."""
    cmd = AttestLeakageControls(
        on=body.date, controls=tuple(body.controls), attested_by=body.attested_by,
        coverage={info: list(controls) for info, controls in body.coverage.items()},
    )  # fmt: skip
    saved, in_force = await compliance.attest_leakage_controls(
        service, operator_id, cmd, context=context_of(principal, operator_id=operator_id), expected_version=if_match,
        key=key,
    )  # fmt: skip
    await queries.settled(service, saved)
    return {"operator_id": operator_id, "version": saved.version, "in_force": in_force}


@router.post("/operators/{operator_id}/status-requests", status_code=201)
async def request_status(
    operator_id: PathId, body: StatusRequestCreate, principal: Soc, service: Service, key: IdempotencyKey,
    if_match: ExpectedVersion,
) -> dict[str, Any]:
    """The SOC asks the operator to show its status by ``reply_by``."""
    cmd = RequestStatus(subject=body.subject, reply_by=body.reply_by)
    saved = await compliance.request_status(
        service, operator_id, cmd, by=principal, context=context_of(principal, operator_id=operator_id),
        expected_version=if_match, key=key,
    )  # fmt: skip
    await queries.settled(service, saved)
    requested = saved.first(StatusRequested)
    request_id = requested.request_id if requested else None
    return {
        "request_id": request_id, "id": request_id, "operator_id": operator_id, "reply_by": body.reply_by.isoformat(),
        "version": saved.version,
    }  # fmt: skip


@router.post("/operators/{operator_id}/status-reports", status_code=201)
async def report_status(
    operator_id: PathId, body: StatusReportCreate, principal: ThatOperator, service: Service, key: IdempotencyKey,
    if_match: ExpectedVersion,
) -> dict[str, Any]:
    """Answer a status request; the report carries the records as they stand (404 unknown, 409 answered)."""
    cmd = ReportStatus(request_id=body.request_id, summary=body.summary)
    saved, records = await compliance.report_status(
        service, operator_id, cmd, context=context_of(principal, operator_id=operator_id), expected_version=if_match,
        key=key,
    )  # fmt: skip
    await queries.settled(service, saved)
    return {"request_id": body.request_id, "operator_id": operator_id, "records": records}


@router.get("/operators/{operator_id}/compliance")
async def compliance_status(operator_id: PathId, _: Reader, service: Service) -> dict[str, Any]:
    """Last assessment and trainings, the attestation in force, overdue and upcoming items, open requests."""
    return compliance.compliance_standing(service, operator_id)
