"""Composition root of the connection service: store, service, reactions, enforcement, compliance check, routes.

Run it with ``smguard serve connection`` (port 8102).
"""

from __future__ import annotations

import logging
from functools import partial

from cryptography.fernet import Fernet
from fastapi import FastAPI

from services.connection.entrypoints.streams import IncidentSink
from services.connection.adapters.sealer import FernetSealer
from services.connection.adapters.webhook import UnconfiguredEnforcement, WebhookEnforcement
from services.connection.application.compliance import check_overdue
from services.connection.application.pipeline import Pipeline
from services.connection.application.ports import EnforcementPort, SecretSealer
from services.connection.application.queries import read_model
from services.connection.application.reactions import needs_barrier, react
from services.connection.application.service import ConnectionService
from services.connection.application.worker import EnforcementWorker
from services.connection.config import ConnectionSettings
from services.connection.entrypoints import api, api_compliance, api_policy
from services.connection.projections.readmodel import Replayed
from shared import devsecrets
from shared.backoff import Backoff
from shared.clock import Clock, utcnow
from shared.config import Settings
from shared.eventstore import EventStore
from shared.periodic import Periodic
from shared.replay import LiveReadModel, ReadModels
from shared.runtime import Runtime
from shared.service import create_app
from shared.topics import CONNECTION_EVENTS, INCIDENT_EVENTS, OPERATOR_EVENTS, POLICY_EVENTS

log = logging.getLogger(__name__)
OWN_TOPICS = [CONNECTION_EVENTS, POLICY_EVENTS, OPERATOR_EVENTS]
READ_MODELS = ReadModels(
    service="connection", topics=(CONNECTION_EVENTS, POLICY_EVENTS, OPERATOR_EVENTS, INCIDENT_EVENTS), scratch=Replayed
)


def build_service(
    store: EventStore, *, sealer: SecretSealer, clock: Clock = utcnow, upcoming_days: int = 30
) -> tuple[ConnectionService, Pipeline]:
    """The service over one event store, and the pipeline its incident reactions go through."""
    service = ConnectionService(store=store, sealer=sealer, clock=clock, upcoming_days=upcoming_days)
    pipeline = Pipeline(partial(react, service), barrier=needs_barrier, committed=service.committed)
    return service, pipeline


def enforcement_port(settings: Settings, own: ConnectionSettings) -> EnforcementPort:
    """The webhook when a URL is configured; otherwise requests stay pending (and it is said loudly)."""
    if not own.enforcement_url:
        log.warning(
            "SMGUARD_ENFORCEMENT_URL is not set: blocks and reconnections are recorded but NOT carried out; "
            "their enforcement requests stay pending and will escalate"
        )
        return UnconfiguredEnforcement()
    key = devsecrets.configured_or_dev(own.enforcement_secret, settings.data_dir, devsecrets.ENFORCEMENT_SECRET)
    return WebhookEnforcement(url=own.enforcement_url, key=key, timeout=own.enforcement_timeout_seconds)


def enforcement_worker(settings: Settings, own: ConnectionSettings, service: ConnectionService) -> EnforcementWorker:
    """The worker carrying out committed requests, told of every append that lands."""
    port = enforcement_port(settings, own)
    worker = EnforcementWorker(
        service, port, backoff=Backoff(own.enforcement_backoff_seconds, own.enforcement_backoff_max_seconds),
        escalate_after=own.enforcement_escalate_seconds, configured=not isinstance(port, UnconfiguredEnforcement),
    )  # fmt: skip
    service.listeners.append(worker.requested)
    return worker


def build_app(settings: Settings, own: ConnectionSettings | None = None, *, clock: Clock = utcnow) -> FastAPI:
    """The connection service's app with its runtime."""
    own = own or ConnectionSettings()
    runtime = Runtime(settings, service="connection")
    store = runtime.event_store(OWN_TOPICS)
    key = devsecrets.configured_or_dev(
        own.connection_secrets_key, settings.data_dir, devsecrets.CONNECTION_SECRETS_KEY, generate=Fernet.generate_key
    )
    service, pipeline = build_service(
        store, sealer=FernetSealer(key), clock=clock, upcoming_days=own.compliance_upcoming_days
    )
    worker = enforcement_worker(settings, own, service)
    # Started in this order: the worker resumes what the store read (all committed) before any reaction stages.
    runtime.add(worker)
    runtime.add(Periodic("enforcement-sweep", worker.sweep, interval=own.enforcement_sweep_seconds))
    check = partial(check_overdue, service)
    checks = runtime.add(Periodic("compliance-check", check, interval=own.compliance_check_seconds, first_after=0))
    runtime.add(pipeline)
    sink = IncidentSink(pipeline)
    runtime.subscribe([INCIDENT_EVENTS], sink, name="incidents")
    snapshot = partial(read_model, service)
    runtime.expose(
        LiveReadModel(settings, READ_MODELS.topics, snapshot=snapshot, sinks=[sink], store=store, settle=pipeline.idle)
    )
    app = create_app(
        runtime,
        service,
        title="smguard connection service",
        description="Operators, connections and their secrets, blocks, block policy, reconnection, enforcement.",
        routers=[api.router, api_policy.router, api_compliance.router],
    )
    app.state.pipeline, app.state.incident_sink = pipeline, sink
    app.state.enforcement, app.state.compliance_check = worker, checks
    return app
