"""The incident service's composition root: runtime, event store, read model, sensor inbox, timers, routes."""

from __future__ import annotations

from functools import partial
from typing import get_args

from fastapi import FastAPI

from shared.clock import Clock, utcnow
from shared.config import Settings
from shared.events.values import Severity
from shared.metrics import OPEN_INCIDENTS, OVERDUE_REPORTS, tally
from shared.periodic import Periodic
from shared.replay import LiveReadModel, ReadModels, SinkProjector, scratch_dir
from shared.runtime import Runtime
from shared.service import create_app
from shared.topics import CONNECTION_EVENTS, INCIDENT_EVENTS, INCIDENT_STATE, SENSOR_ANOMALIES
from services.incident.application.handlers import check_deadlines
from services.incident.application.service import IncidentService
from services.incident.config import IncidentSettings
from services.incident.domain.model import Incident
from services.incident.entrypoints.api import router
from services.incident.entrypoints.inbox import AnomalyIntake
from services.incident.projections.readmodel import IncidentReadModel

DESCRIPTION = "Incidents of the security agreement: reports in two parts, anomalies, vulnerabilities, clearing."
READ_MODEL_TOPICS = (INCIDENT_EVENTS, CONNECTION_EVENTS)
FORGET_APPLIED_SECONDS = 3600.0


def _scratch(settings: Settings) -> SinkProjector:
    """A fresh read model in a temporary folder that a replay feeds, as the live subscriber feeds the live one."""
    folder = scratch_dir("incident")
    model = IncidentReadModel(folder / "readmodel.sqlite")
    return SinkProjector(settings, dict.fromkeys(READ_MODEL_TOPICS, model), model.snapshot, scratch=folder)


READ_MODELS = ReadModels(service="incident", topics=READ_MODEL_TOPICS, scratch=_scratch)


def build_app(settings: Settings, *, options: IncidentSettings | None = None, clock: Clock = utcnow) -> FastAPI:
    """The incident service as a FastAPI app whose lifespan runs its Kafka parts."""
    options = options or IncidentSettings()
    runtime = Runtime(settings, service="incident")
    store = runtime.event_store({INCIDENT_EVENTS: Incident}, inbox=SENSOR_ANOMALIES, changelog=INCIDENT_STATE)
    path = settings.data_dir / "readmodels" / f"incident-{settings.instance}-readmodel.sqlite"
    model = IncidentReadModel(path, window_seconds=settings.key_window_days * 86400)
    runtime.add(model)  # stopped (closed) after the subscriber that feeds it
    svc = IncidentService.over(store, directory=model, views=model, clock=clock, deadlines=options.deadlines())
    runtime.subscribe(list(READ_MODEL_TOPICS), model, name="readmodel")
    intake = AnomalyIntake(svc, runtime.dead_letters, ready=runtime.wait_caught_up)
    runtime.inbox(intake.handle)
    runtime.add(Periodic("incident-deadlines", partial(check_deadlines, svc), interval=options.deadline_check_seconds, first_after=0))
    runtime.add(Periodic("incident-readmodel-window", model.forget_applied, interval=FORGET_APPLIED_SECONDS))
    runtime.expose(LiveReadModel(settings, READ_MODEL_TOPICS, snapshot=model.snapshot, sinks=[model]))
    runtime.measure(OPEN_INCIDENTS, lambda: tally(model.open_by_severity(), get_args(Severity)))
    runtime.measure(OVERDUE_REPORTS, lambda: tally(model.overdue_reports(), ("initial", "cause")))
    app = create_app(runtime, svc, title="smguard incident service", description=DESCRIPTION, routers=[router])
    app.state.intake = intake
    return app
