"""The incident service's HTTP routes: HTTP → command → status code (rules live in the domain)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request

from shared.auth import Principal, require_roles
from shared.domain import Invalid
from shared.events.incident import CauseReport, InitialReport
from shared.events.values import Actor, IncidentCategory, Party, Severity
from shared.http import ExpectedVersion, IdempotencyKey, context_of
from shared.domain import not_found
from services.incident.application import handlers
from services.incident.application.service import IncidentService
from services.incident.domain.commands import (
    Anomaly,
    AssetRef,
    ClearIncident,
    DeclareVulnerability,
    FileReport,
    OpenIncident,
)
from services.incident.entrypoints.schemas import (
    AnomalyAccepted,
    AnomalyCreate,
    CauseReportCreate,
    ClearCreate,
    IncidentCreate,
    IncidentWritten,
    InitialReportCreate,
    ReportWritten,
    VulnerabilityCreate,
    VulnerabilityDeclaredPublic,
)
from services.incident.projections.queries import MAX_PAGE, IncidentFilter, for_reader, list_page, visible

router = APIRouter(tags=["incidents"])


def _service(request: Request) -> IncidentService:
    return request.app.state.incident


Service = Annotated[IncidentService, Depends(_service)]
Reporter = Annotated[Principal, Depends(require_roles("utility_soc", "operator"))]
Reader = Annotated[Principal, Depends(require_roles("utility_soc", "utility_desk", "operator", "auditor"))]
SensorOrSoc = Annotated[Principal, Depends(require_roles("sensor", "utility_soc"))]
Soc = Annotated[Principal, Depends(require_roles("utility_soc"))]


@router.post("/incidents", status_code=201, response_model=IncidentWritten)
async def report_incident(body: IncidentCreate, principal: Reporter, svc: Service, key: IdempotencyKey) -> dict:
    """Report an incident (the utility names the operator it concerns; an operator reports its own)."""
    party: Party = "operator" if principal.role == "operator" else "utility"
    operator_id = body.operator_id
    if party == "operator":
        if operator_id not in (None, principal.operator_id):
            raise Invalid("an operator reports its own incidents: leave operator_id out or give your own")
        operator_id = principal.operator_id
    cmd = OpenIncident(
        category=body.category,
        severity=body.severity,
        title=body.title,
        description=body.description,
        affected_assets=tuple(AssetRef(a.kind, a.id) for a in body.affected_assets),
        detected_at=body.detected_at,
        operator_id=operator_id,
        opened_by=party,
        tlp=body.tlp,
    )
    context = context_of(principal, operator_id=operator_id)
    written = await handlers.open_incident(svc.repo, cmd, context=context, key=key)
    return {"id": written.incident_id, "status": "open", "version": written.version}


@router.post("/incidents/{incident_id}/reports/initial", status_code=201, response_model=ReportWritten)
async def file_initial_report(
    incident_id: str, body: InitialReportCreate, principal: Reporter, svc: Service, key: IdempotencyKey, expected: ExpectedVersion
) -> dict:
    """File or revise part (i): event, location, impact on each device and system, response plan."""
    party = svc.party_of(incident_id, principal)
    cmd = FileReport("initial", party, initial=InitialReport.model_validate(body.model_dump()))
    return await _file(svc, incident_id, cmd, principal, expected=expected, key=key)


@router.post("/incidents/{incident_id}/reports/cause", status_code=201, response_model=ReportWritten)
async def file_cause_report(
    incident_id: str, body: CauseReportCreate, principal: Reporter, svc: Service, key: IdempotencyKey, expected: ExpectedVersion
) -> dict:
    """File or revise part (ii): cause, countermeasure, countermeasure plan, recurrence prevention."""
    party = svc.party_of(incident_id, principal)
    cmd = FileReport("cause", party, cause=CauseReport.model_validate(body.model_dump()))
    return await _file(svc, incident_id, cmd, principal, expected=expected, key=key)


async def _file(
    svc: IncidentService, incident_id: str, cmd: FileReport, principal: Principal, *, expected: int | None, key: str | None
) -> dict:
    context = svc.write_context(incident_id, principal)
    written = await handlers.file_report(
        svc.repo, incident_id, cmd, context=context, expected_version=expected, key=key
    )
    return {"revision": written.revision, "version": written.version}


@router.post("/incidents/{incident_id}/clear", response_model=IncidentWritten)
async def clear_incident(
    incident_id: str, body: ClearCreate, principal: Reporter, svc: Service, key: IdempotencyKey, expected: ExpectedVersion
) -> dict:
    """Declare the incident resolved; 409 while no cause report is filed."""
    party = svc.party_of(incident_id, principal)
    cmd = ClearIncident(summary=body.summary, party=party, decided_by=Actor(kind="person", id=principal.sub, role=principal.role))
    written = await handlers.clear_incident(
        svc.repo, svc.directory, incident_id, cmd,
        context=svc.write_context(incident_id, principal), expected_version=expected, key=key,
    )  # fmt: skip
    return {"id": written.incident_id, "status": "cleared", "version": written.version}


@router.post("/anomalies", status_code=202, response_model=AnomalyAccepted)
async def post_anomaly(body: AnomalyCreate, principal: SensorOrSoc, svc: Service) -> dict:
    """An anomaly signal: opens an incident, attaches to the open one, or is recognised as a duplicate."""
    anomaly = Anomaly(**body.model_dump())
    [outcome] = await handlers.handle_anomalies(svc.repo, svc.directory, [anomaly], actor=principal.sub)
    if outcome.refused:
        raise Invalid(outcome.refused)
    return {"incident_id": outcome.incident_id, "attached": outcome.attached, "duplicate": outcome.duplicate}


@router.post("/vulnerabilities", status_code=201, response_model=VulnerabilityDeclaredPublic)
async def declare_vulnerability(body: VulnerabilityCreate, principal: Soc, svc: Service, key: IdempotencyKey) -> dict:
    """Declare a serious vulnerability; the connection service blocks every matching connection."""
    cmd = DeclareVulnerability(**body.model_dump() | {"smart_meter_ids": tuple(body.smart_meter_ids)})
    written = await handlers.declare_vulnerability(
        svc.repo, cmd, now=svc.clock(), context=context_of(principal), key=key
    )
    return {"incident_id": written.incident_id, "version": written.version}


@router.get("/incidents")
async def list_incidents(
    principal: Reader,
    svc: Service,
    status: Literal["open", "cleared"] | None = None,
    category: IncidentCategory | None = None,
    severity: Severity | None = None,
    operator_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict:
    """Incidents the caller may see, newest first, filtered and paged."""
    if principal.role == "operator" and operator_id not in (None, principal.operator_id):
        return {"items": [], "total": 0, "limit": limit, "offset": offset, "next_offset": None}
    where = IncidentFilter(status=status, category=category, severity=severity, operator_id=operator_id)
    views = list(svc.views.views.values())
    return list_page(views, principal=principal, blocked_for=svc.directory.blocked_for, where=where, limit=limit, offset=offset)


@router.get("/incidents/{incident_id}")
async def get_incident(incident_id: str, principal: Reader, svc: Service) -> dict:
    """The incident: status, assets and their responsible side, report revisions, anomalies, timeline."""
    await svc.views.wait_for(incident_id, svc.repo.store.version(incident_id), timeout=3.0)
    view = svc.views.views.get(incident_id)
    blocked = svc.directory.blocked_for(incident_id)
    if view is None or not visible(view, principal, blocked):
        raise not_found("incident", incident_id)
    return for_reader(view, principal, blocked)
