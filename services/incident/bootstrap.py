"""The incident service's composition root: runtime, event store, projections, timer, agent, routes."""

from __future__ import annotations

from functools import partial

from fastapi import FastAPI

from shared.clock import Clock, utcnow
from shared.config import Settings
from shared.periodic import Periodic
from shared.replay import LiveReadModel, ReadModels, SinkProjector
from shared.runtime import FaustComponent, Runtime
from shared.service import create_app
from shared.streams import faust_app
from shared.topics import CONNECTION_EVENTS, INCIDENT_EVENTS, SENSOR_ANOMALIES
from services.incident.application.handlers import check_deadlines
from services.incident.application.service import IncidentService
from services.incident.config import IncidentSettings
from services.incident.entrypoints.api import router
from services.incident.entrypoints.streams import AnomalyIntake, install_anomaly_agent
from services.incident.projections.connections import ConnectionDirectoryView
from services.incident.projections.incidents import IncidentViews
from services.incident.projections.readmodel import snapshot

DESCRIPTION = "Incidents of the security agreement: reports in two parts, anomalies, vulnerabilities, clearing."
READ_MODEL_TOPICS = (INCIDENT_EVENTS, CONNECTION_EVENTS)


def _scratch(settings: Settings) -> SinkProjector:
    """Fresh projections that a replay feeds from the topics, as the live subscribers feed theirs."""
    views, directory = IncidentViews(), ConnectionDirectoryView()
    return SinkProjector(settings, {INCIDENT_EVENTS: views, CONNECTION_EVENTS: directory}, partial(snapshot, views, directory))


READ_MODELS = ReadModels(service="incident", topics=READ_MODEL_TOPICS, scratch=_scratch)


def build_app(settings: Settings, *, options: IncidentSettings | None = None, clock: Clock = utcnow) -> FastAPI:
    """The incident service as a FastAPI app whose lifespan runs its Kafka parts."""
    options = options or IncidentSettings()
    runtime = Runtime(settings, service="incident")
    directory, views = ConnectionDirectoryView(), IncidentViews()
    svc = IncidentService.over(
        runtime.event_store([INCIDENT_EVENTS]), directory=directory, views=views, clock=clock, deadlines=options.deadlines()
    )
    runtime.subscribe([CONNECTION_EVENTS], directory, name="connections")
    runtime.subscribe([INCIDENT_EVENTS], views, name="incidents")
    runtime.add(Periodic("incident-deadlines", partial(check_deadlines, svc), interval=options.deadline_check_seconds, first_after=0))
    intake = AnomalyIntake(svc, runtime.dead_letters, ready=runtime.wait_caught_up)
    agents = faust_app(settings, service="incident")
    topic = settings.topic(SENSOR_ANOMALIES)
    install_anomaly_agent(agents, topic=topic, intake=intake, batch=options.anomaly_batch_size, within=options.anomaly_batch_seconds)
    runtime.add(FaustComponent(agents))
    runtime.expose(LiveReadModel(settings, READ_MODEL_TOPICS, snapshot=partial(snapshot, views, directory), sinks=[views, directory]))
    app = create_app(runtime, svc, title="smguard incident service", description=DESCRIPTION, routers=[router])
    app.state.intake = intake
    return app
