"""The incident service's HTTP routes: HTTP → command → status code (the rules live in domain and application)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from shared.auth import Parties, Readers, SensorOrSoc, Soc
from shared.eventstore.ports import confirmed
from shared.events.incident import CauseReport, InitialReport
from shared.events.values import IncidentCategory, Severity
from shared.http import ExpectedVersion, IdempotencyKey, Offset, PathId, QueryId, context_of, service_of
from shared.principal import Principal
from services.incident.application import anomalies, handlers, queries
from services.incident.application.service import IncidentService
from services.incident.domain.commands import (
    Anomaly,
    AssetRef,
    AttachNote,
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
    NoteCreate,
    NoteWritten,
    ReportWritten,
    VulnerabilityCreate,
    VulnerabilityDeclaredPublic,
)
from services.incident.projections.queries import MAX_ANOMALY_PAGE, MAX_PAGE, IncidentFilter

router = APIRouter(tags=["incidents"])
Service = Annotated[IncidentService, Depends(service_of)]


@router.post("/incidents", status_code=201, response_model=IncidentWritten)
async def report_incident(body: IncidentCreate, principal: Parties, svc: Service, key: IdempotencyKey) -> dict:
    """Report an incident (the utility names the operator it concerns; an operator reports its own)."""
    cmd = OpenIncident(
        category=body.category,
        severity=body.severity,
        title=body.title,
        description=body.description,
        affected_assets=tuple(AssetRef(a.kind, a.id) for a in body.affected_assets),
        detected_at=body.detected_at,
        operator_id=body.operator_id,
        tlp=body.tlp,
    )
    written = await handlers.open_incident(svc, cmd, by=principal, context=context_of(principal), key=key)
    return {"id": written.incident_id, "status": "open", "version": written.version}


@router.post("/incidents/{incident_id}/reports/initial", status_code=201, response_model=ReportWritten)
async def file_initial_report(
    incident_id: PathId, body: InitialReportCreate, principal: Parties, svc: Service, key: IdempotencyKey, expected: ExpectedVersion
) -> dict:
    """File or revise part (i): event, location, impact on each device and system, response plan."""
    cmd = FileReport("initial", initial=InitialReport.model_validate(body.model_dump()))
    return await _file(svc, incident_id, cmd, principal, expected=expected, key=key)


@router.post("/incidents/{incident_id}/reports/cause", status_code=201, response_model=ReportWritten)
async def file_cause_report(
    incident_id: PathId, body: CauseReportCreate, principal: Parties, svc: Service, key: IdempotencyKey, expected: ExpectedVersion
) -> dict:
    """File or revise part (ii): cause, countermeasure, countermeasure plan, recurrence prevention."""
    cmd = FileReport("cause", cause=CauseReport.model_validate(body.model_dump()))
    return await _file(svc, incident_id, cmd, principal, expected=expected, key=key)


async def _file(
    svc: IncidentService, incident_id: str, cmd: FileReport, principal: Principal, *, expected: int | None, key: str | None
) -> dict:
    write = handlers.AsParty(incident_id, principal, context_of(principal), expected, key)
    written = await handlers.file_report(svc, cmd, write=write)
    return {"revision": written.revision, "version": written.version}


@router.post("/incidents/{incident_id}/clear", response_model=IncidentWritten)
async def clear_incident(
    incident_id: PathId, body: ClearCreate, principal: Parties, svc: Service, key: IdempotencyKey, expected: ExpectedVersion
) -> dict:
    """Declare the incident resolved; 409 while no cause report is filed."""
    write = handlers.AsParty(incident_id, principal, context_of(principal), expected, key)
    written = await handlers.clear_incident(svc, ClearIncident(body.summary), write=write)
    return {"id": written.incident_id, "status": "cleared", "version": written.version}


@router.post("/incidents/{incident_id}/notes", status_code=201, response_model=NoteWritten)
async def attach_note(
    incident_id: PathId, body: NoteCreate, principal: Parties, svc: Service, key: IdempotencyKey, expected: ExpectedVersion
) -> dict:
    """Attach a note to the open incident (either party concerned; another tenant's incident is 404)."""
    write = handlers.AsParty(incident_id, principal, context_of(principal), expected, key)
    written = await handlers.attach_note(svc, AttachNote(body.text), write=write)
    return {"incident_id": written.incident_id, "version": written.version}


@router.post("/anomalies", status_code=202, response_model=AnomalyAccepted)
async def post_anomaly(body: AnomalyCreate, principal: SensorOrSoc, svc: Service) -> dict:
    """An anomaly signal: opens an incident, attaches to the open one, or is recognised as a duplicate."""
    recorded = anomalies.record_anomaly(svc, Anomaly(**body.model_dump()), context=context_of(principal))
    outcome = await confirmed(recorded, within=svc.store.commit_deadline)  # 503 in time when the broker is away
    return {"incident_id": outcome.incident_id, "attached": outcome.attached, "duplicate": outcome.duplicate}


@router.post("/vulnerabilities", status_code=201, response_model=VulnerabilityDeclaredPublic)
async def declare_vulnerability(body: VulnerabilityCreate, principal: Soc, svc: Service, key: IdempotencyKey) -> dict:
    """Declare a serious vulnerability; the connection service blocks every matching connection."""
    cmd = DeclareVulnerability(**body.model_dump() | {"smart_meter_ids": tuple(body.smart_meter_ids)})
    written = await handlers.declare_vulnerability(svc, cmd, context=context_of(principal), key=key)
    return {"incident_id": written.incident_id, "version": written.version}


@router.get("/incidents")
async def list_incidents(
    principal: Readers,
    svc: Service,
    status: Literal["open", "cleared"] | None = None,
    category: IncidentCategory | None = None,
    severity: Severity | None = None,
    operator_id: QueryId = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    offset: Offset = 0,
) -> dict:
    """Incidents the caller may see, newest first, filtered and paged."""
    where = IncidentFilter(status=status, category=category, severity=severity, operator_id=operator_id)
    return queries.incidents(svc, where, by=principal, limit=limit, offset=offset)


@router.get("/incidents/{incident_id}")
async def get_incident(incident_id: PathId, principal: Readers, svc: Service) -> dict:
    """The incident: status, assets and their responsible side, report revisions, anomalies, timeline."""
    return await queries.incident(svc, incident_id, by=principal)


@router.get("/incidents/{incident_id}/anomalies")
async def list_anomalies(
    incident_id: PathId,
    principal: Readers,
    svc: Service,
    limit: Annotated[int, Query(ge=1, le=MAX_ANOMALY_PAGE)] = 100,
    offset: Offset = 0,
) -> dict:
    """Every anomaly of the incident, a page at a time, in the order they were recorded."""
    return await queries.anomalies(svc, incident_id, by=principal, offset=offset, limit=limit)
