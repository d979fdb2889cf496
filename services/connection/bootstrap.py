"""Composition root of the connection service: store, read model, reactions, enforcement, routes.

Run it with ``smguard serve connection`` (port 8102).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError

from services.connection.adapters.incidents import IncidentSink
from services.connection.adapters.sealer import FernetSealer, load_or_create_key
from services.connection.adapters.webhook import UnconfiguredEnforcement, WebhookEnforcement, load_or_create_secret
from services.connection.application.compliance import Clock, ComplianceHandlers, ComplianceWatch
from services.connection.application.enforcement import Backoff, EnforcementWorker
from services.connection.application.handlers import ConnectionHandlers
from services.connection.application.ports import EnforcementPort
from services.connection.application.reactions import IncidentReactions
from services.connection.config import ConnectionSettings
from services.connection.entrypoints import api, api_policy, ops
from services.connection.entrypoints import api_compliance
from services.connection.projections.directory import Directory
from shared import topics
from shared.config import Settings
from shared.runtime import Runtime
from shared.service import create_app

log = logging.getLogger(__name__)
OWN_TOPICS = [topics.CONNECTION_EVENTS, topics.POLICY_EVENTS, topics.OPERATOR_EVENTS]


class DirectoryLoader:
    """Folds the store's events into the directory once the store has read its topics."""

    def __init__(self, handlers: ConnectionHandlers) -> None:
        self._handlers = handlers

    async def start(self) -> None:
        """Build the read model."""
        self._handlers.directory.rebuild(self._handlers.store.all())

    async def stop(self) -> None:
        """Nothing to release."""


def enforcement_port(settings: Settings, own: ConnectionSettings) -> EnforcementPort:
    """The webhook when a URL is configured; otherwise requests stay pending (and it is said loudly)."""
    if not own.enforcement_url:
        log.warning(
            "SMGUARD_ENFORCEMENT_URL is not set: blocks and reconnections are recorded but NOT carried out; "
            "their enforcement requests stay pending and will escalate"
        )
        return UnconfiguredEnforcement()
    key = load_or_create_secret(own.enforcement_secret, settings.data_dir / "connection-enforcement-secret")
    return WebhookEnforcement(url=own.enforcement_url, key=key, timeout=own.enforcement_timeout_seconds)


def build_app(settings: Settings, own: ConnectionSettings | None = None, *, clock: Clock | None = None) -> FastAPI:
    """The connection service's app with its runtime."""
    own = own or ConnectionSettings()
    runtime = Runtime(settings, service="connection")
    store = runtime.event_store(OWN_TOPICS)
    sealer = FernetSealer(load_or_create_key(own.connection_secrets_key, settings.data_dir / "connection-secrets.key"))
    handlers = ConnectionHandlers(store=store, directory=Directory(store.load), sealer=sealer)
    reactions = IncidentReactions(handlers)
    port = enforcement_port(settings, own)
    worker = EnforcementWorker(
        handlers=handlers,
        port=port,
        backoff=Backoff(own.enforcement_backoff_seconds, own.enforcement_backoff_max_seconds),
        escalate_after=own.enforcement_escalate_seconds,
        sweep_every=own.enforcement_sweep_seconds,
    )
    worker.configured = not isinstance(port, UnconfiguredEnforcement)
    runtime.add(DirectoryLoader(handlers))
    runtime.add(worker)
    compliance = ComplianceHandlers(store=store, clock=clock, upcoming_days=own.compliance_upcoming_days)
    watch = ComplianceWatch(compliance, lambda: list(handlers.directory.operators), period=own.compliance_check_seconds)
    runtime.add(watch)
    sink = IncidentSink(reactions)
    runtime.subscribe([topics.INCIDENT_EVENTS], sink, name="incidents")
    app = create_app(
        runtime,
        title="smguard connection service",
        description="Operators, connections and their secrets, blocks, block policy, reconnection, enforcement.",
        routers=[api.router, api_policy.router, api_compliance.router, ops.router],
    )
    app.add_exception_handler(RequestValidationError, api.redacted_validation_error)  # type: ignore[arg-type]
    app.state.connection_handlers = handlers
    app.state.connection_reactions = reactions
    app.state.enforcement, app.state.incident_sink = worker, sink
    app.state.compliance_handlers, app.state.compliance_watch = compliance, watch
    return app
