"""The incident service's composition root: runtime, event store, projections, timer, agent, routes."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from shared.config import Settings
from shared.envelope import utcnow
from shared.runtime import FaustComponent, Runtime
from shared.service import create_app
from shared.streams import faust_app
from shared.topics import CONNECTION_EVENTS, INCIDENT_EVENTS, SENSOR_ANOMALIES
from services.incident.application.deadlines import DeadlineWatcher
from services.incident.application.ports import Clock
from services.incident.application.repository import IncidentRepository
from services.incident.application.service import IncidentService
from services.incident.config import IncidentSettings
from services.incident.domain.exceptions import NotPermitted
from services.incident.entrypoints.api import router
from services.incident.entrypoints.ops import ops_router
from services.incident.entrypoints.streams import AnomalyIntake, install_anomaly_agent
from services.incident.projections.connections import ConnectionDirectoryView
from services.incident.projections.incidents import IncidentViews

DESCRIPTION = "Incidents of the security agreement: reports in two parts, anomalies, vulnerabilities, clearing."


def build_app(settings: Settings, *, options: IncidentSettings | None = None, clock: Clock = utcnow) -> FastAPI:
    """The incident service as a FastAPI app whose lifespan runs its Kafka parts."""
    options = options or IncidentSettings()
    runtime = Runtime(settings, service="incident")
    repo = IncidentRepository(runtime.event_store([INCIDENT_EVENTS]))
    directory, views = ConnectionDirectoryView(), IncidentViews()
    runtime.subscribe([CONNECTION_EVENTS], directory, name="connections")
    runtime.subscribe([INCIDENT_EVENTS], views, name="incidents")
    deadlines = DeadlineWatcher(
        repo, clock=clock, deadlines=options.deadlines(), interval=options.deadline_check_seconds
    )
    runtime.add(deadlines)
    intake = AnomalyIntake(repo, directory, runtime.dead_letters, ready=runtime.wait_caught_up)
    agents = faust_app(settings, service="incident")
    install_anomaly_agent(
        agents,
        topic=settings.topic(SENSOR_ANOMALIES),
        intake=intake,
        batch=options.anomaly_batch_size,
        within=options.anomaly_batch_seconds,
    )
    runtime.add(FaustComponent(agents))
    app = create_app(runtime, title="smguard incident service", description=DESCRIPTION, routers=[router, ops_router])
    app.state.incident = IncidentService(repo=repo, directory=directory, views=views, clock=clock)
    app.state.deadlines, app.state.intake = deadlines, intake
    app.add_exception_handler(NotPermitted, _forbidden)
    return app


async def _forbidden(_: Request, exc: Exception) -> JSONResponse:
    message = getattr(exc, "message", str(exc))
    return JSONResponse({"detail": message, "code": "forbidden"}, status_code=403)
