"""Part 5: record the yearly duties, ask for and answer status, flag what is overdue; the status view.

"Today" is the service clock's calendar day in Japan (JST), where the agreement is lived, so a
record dated today in Tokyo is never "in the future". Each command runs on the instance owning the
operator's partition and loads, decides and stages without an ``await`` in between, so no other
decision (the overdue check, a concurrent request) can slip in: a version conflict can only be the
caller's stale ``If-Match``, never something to retry here. The status view reads the read models.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any, Iterable

from services.connection.application.handlers import person
from services.connection.application.service import ConnectionService
from services.connection.domain.commands import (
    AttestLeakageControls,
    RecordAssessment,
    RecordTraining,
    ReportStatus,
    RequestStatus,
)
from services.connection.domain.operator import Operator
from services.connection.domain.compliance import split
from services.connection.projections.operators import every_operator, operator
from services.connection.projections.standing import attestation, report_records, standing
from shared.domain import not_found
from shared.envelope import new_id
from shared.events.operator import ComplianceOverdue, StatusReported
from shared.eventstore import Context
from shared.principal import Principal
from shared.repository import Saved

log = logging.getLogger(__name__)
CHECKER = "smguard/connection:compliance"


async def record_assessment(
    service: ConnectionService, operator_id: str, cmd: RecordAssessment, *, context: Context,
    expected_version: int | None = None, key: str | None = None,
) -> Saved:
    """Record a risk assessment (not dated in the future)."""
    assessment_id, fields = new_id(), {k: v for k, v in asdict(cmd).items() if k != "on"}

    def decide(o: Operator) -> None:
        o.record_assessment(assessment_id=assessment_id, on=cmd.on, today=service.today(), **fields)

    return await service.operators.change(
        operator_id, decide, context=context, expected_version=expected_version, idempotency_key=key
    )


async def record_training(
    service: ConnectionService, operator_id: str, cmd: RecordTraining, *, context: Context,
    expected_version: int | None = None, key: str | None = None,
) -> Saved:
    """Record security education or an incident drill (not dated in the future)."""
    training_id, today = new_id(), service.today()

    def decide(o: Operator) -> None:
        o.record_training(training_id=training_id, on=cmd.on, kind=cmd.kind, participants=cmd.participants, today=today)

    return await service.operators.change(
        operator_id, decide, context=context, expected_version=expected_version, idempotency_key=key
    )


async def attest_leakage_controls(
    service: ConnectionService, operator_id: str, cmd: AttestLeakageControls, *, context: Context,
    expected_version: int | None = None, key: str | None = None,
) -> tuple[Saved, dict[str, Any] | None]:
    """Attest the leakage controls; also answers the attestation in force afterwards, with what it leaves uncovered."""

    def decide(o: Operator) -> None:
        o.attest_leakage_controls(
            on=cmd.on, controls=list(cmd.controls), attested_by=cmd.attested_by, coverage=cmd.coverage,
            today=service.today(),
        )  # fmt: skip

    saved = await service.operators.change(
        operator_id, decide, context=context, expected_version=expected_version, idempotency_key=key
    )
    return saved, attestation(service.operators.get(operator_id).attestation_in_force)


async def request_status(
    service: ConnectionService, operator_id: str, cmd: RequestStatus, *, by: Principal, context: Context,
    expected_version: int | None = None, key: str | None = None,
) -> Saved:
    """The utility asks the operator to show its status by ``reply_by`` (not already past)."""
    request_id, today = new_id(), service.today()

    def decide(o: Operator) -> None:
        o.request_status(
            request_id=request_id, subject=cmd.subject, reply_by=cmd.reply_by, decided_by=person(by), today=today
        )

    return await service.operators.change(
        operator_id, decide, context=context, expected_version=expected_version, idempotency_key=key
    )


async def report_status(
    service: ConnectionService, operator_id: str, cmd: ReportStatus, *, context: Context,
    expected_version: int | None = None, key: str | None = None,
) -> tuple[Saved, dict[str, Any]]:
    """Answer a status request; the report carries the records as they stand when it is filed.

    Taking them is this step's job (the standing is a view of the operator on the service's today,
    without the open requests and without the request being answered); the aggregate stores them.
    """

    def decide(o: Operator) -> None:
        records = report_records(o, service.today(), within_days=service.upcoming_days, answering=cmd.request_id)
        o.report_status(request_id=cmd.request_id, summary=cmd.summary, records=records)

    saved = await service.operators.change(
        operator_id, decide, context=context, expected_version=expected_version, idempotency_key=key
    )
    reported = saved.first(StatusReported)
    assert reported is not None  # the decision records the report or refuses
    return saved, dict(reported.records)


def compliance_standing(service: ConnectionService, operator_id: str) -> dict[str, Any]:
    """The operator's standing today: last records, duties and their due dates, overdue, upcoming, open requests."""
    found = operator(service.views.docs, operator_id)
    if found is None:
        raise not_found("operator", operator_id)
    view = standing(found, service.today(), within_days=service.upcoming_days)
    return {"operator_id": operator_id, "name": found.name, **view}


async def flag_overdue(service: ConnectionService, operator_ids: Iterable[str]) -> list[ComplianceOverdue]:
    """Append the ``ComplianceOverdue`` of each newly overdue item (each recognised by operator, item and due
    date: ``Operator.markers_of``); the aggregate remembers what it flagged, so a later check adds nothing."""
    today, flagged = service.today(), []
    for operator_id in operator_ids:
        found = service.operators.load(operator_id)
        events = found.flag_overdue(today)
        staged = service.operators.stage(found, context=Context(actor=CHECKER, operator_id=operator_id))
        if staged is not None and not (await staged.committed()).replayed:
            flagged += events
    return flagged


async def check_overdue(service: ConnectionService) -> list[ComplianceOverdue]:
    """The daily check over the onboarded operators this instance owns (a ``Periodic`` runs it)."""
    flagged = await flag_overdue(service, service.store.find("onboarded", "1"))
    for event in flagged:
        log.info(
            "compliance overdue",
            extra={"operator_id": event.operator_id, "item": event.item, "due_date": str(event.due_date)},
        )
    return flagged



def overdue_by_kind(service: ConnectionService) -> list[tuple[str, int]]:
    """Today's overdue items of every onboarded operator, by kind (a status request's kind, not its id)."""
    today, found = service.today(), []
    for each in every_operator(service.views.docs):
        overdue, _ = split(each.due_items(), today, within_days=0)
        found += [(item.item.split(":")[0] if item.item.startswith("status_request:") else item.item, 1) for item in overdue]
    return found
