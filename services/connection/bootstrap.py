"""Composition root of the connection service: store, read models, router and inbox, enforcement, compliance, routes.

Run it with ``smguard serve connection`` (port 8102; instance K>0 on ``Settings.port_of``).
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial
from typing import Awaitable, Callable

from cryptography.fernet import Fernet
from fastapi import FastAPI

from services.connection.adapters.metered import MeteredEnforcement
from services.connection.adapters.owners import HttpOwners
from services.connection.adapters.sealer import FernetSealer, KeyRing
from services.connection.adapters.webhook import BulkWebhookEnforcement, UnconfiguredEnforcement, WebhookEnforcement
from services.connection.application.compliance import check_overdue, overdue_by_kind
from services.connection.application.ports import EnforcementPort
from services.connection.application.queries import read_model
from services.connection.application.service import ConnectionService
from services.connection.application.worker import EnforcementWorker
from services.connection.config import ConnectionSettings
from services.connection.domain.model import Connection
from services.connection.domain.operator import Operator
from services.connection.domain.policy import BlockPolicy
from services.connection.entrypoints import api, api_compliance, api_policy, api_secrets
from services.connection.entrypoints.inbox import Inbox
from services.connection.entrypoints.streams import router_app
from services.connection.projections.readmodel import replayed
from services.connection.projections.views import TOPICS, views_at
from shared import devsecrets
from shared.backoff import Backoff
from shared.clock import Clock, utcnow
from shared.config import Settings
from shared.eventstore.kafka import KafkaEventStore
from shared.keyring import CONNECTION_KEYS, KeyFolder
from shared.metrics import COMPLIANCE_ITEMS, OVERDUE_COMPLIANCE, tally
from shared.kafka.commands import CommandSender
from shared.periodic import Periodic
from shared.replay import LiveReadModel, ReadModels
from shared.runtime import FaustComponent, Runtime
from shared.service import create_app
from shared.topics import CONNECTION_COMMANDS, CONNECTION_EVENTS, CONNECTION_STATE, OPERATOR_EVENTS, POLICY_EVENTS

log = logging.getLogger(__name__)
KINDS = {CONNECTION_EVENTS: Connection, POLICY_EVENTS: BlockPolicy, OPERATOR_EVENTS: Operator}
FORGET_APPLIED_SECONDS = 3600
"""How often the read models forget the event ids applied before the key window."""
READ_MODELS = ReadModels(service="connection", topics=TOPICS, scratch=replayed)


def enforcement_port(settings: Settings, own: ConnectionSettings) -> EnforcementPort:
    """The webhook when a URL is configured; otherwise requests stay pending (and it is said loudly)."""
    if not own.enforcement_url:
        log.warning(
            "SMGUARD_ENFORCEMENT_URL is not set: blocks and reconnections are recorded but NOT carried out; "
            "their enforcement requests stay pending and will escalate"
        )
        return UnconfiguredEnforcement()
    key = devsecrets.configured_or_dev(own.enforcement_secret, settings.data_dir, devsecrets.ENFORCEMENT_SECRET)
    if own.enforcement_mode == "bulk":
        return BulkWebhookEnforcement(
            url=own.enforcement_url, key=key, timeout=own.enforcement_timeout_seconds,
            max_requests=own.enforcement_bulk_max_requests, linger=own.enforcement_bulk_linger_ms / 1000,
        )  # fmt: skip
    return WebhookEnforcement(url=own.enforcement_url, key=key, timeout=own.enforcement_timeout_seconds)


def key_folder_of(settings: Settings, own: ConnectionSettings) -> KeyFolder:
    """Where the sealing keys are kept (``<data_dir>/connection-keys`` unless configured)."""
    return KeyFolder(own.connection_secrets_keyring or settings.data_dir / CONNECTION_KEYS)


def key_ring_of(settings: Settings, own: ConnectionSettings) -> KeyRing:
    """The ring: the folder's keys, then the legacy key if there is one; a first key is made when there is none."""
    folder = key_folder_of(settings, own)
    legacy_file = settings.data_dir / devsecrets.CONNECTION_SECRETS_KEY
    legacy = own.connection_secrets_key.encode() if own.connection_secrets_key else None
    if legacy is None and legacy_file.exists():
        legacy = devsecrets.dev_secret(settings.data_dir, devsecrets.CONNECTION_SECRETS_KEY)
    if legacy is None:
        folder.ensure_first(Fernet.generate_key)
    return KeyRing(folder, legacy=legacy)


def enforcement_worker(settings: Settings, own: ConnectionSettings, service: ConnectionService) -> EnforcementWorker:
    """The worker carrying out the owned connections' committed requests, told of every commit."""
    port = enforcement_port(settings, own)
    worker = EnforcementWorker(
        service, MeteredEnforcement(port), backoff=Backoff(own.enforcement_backoff_seconds, own.enforcement_backoff_max_seconds),
        escalate_after=own.enforcement_escalate_seconds, configured=not isinstance(port, UnconfiguredEnforcement),
    )  # fmt: skip
    service.store.on_commit(worker.committed)
    return worker


def when_ready(store: KafkaEventStore, check: Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[object]]:
    """``check``, waiting first for the store to own and restore its partitions (the first run is at start)."""

    async def run() -> object:
        while not store.ready:
            await asyncio.sleep(0.1)
        return await check()

    return run


def build_app(settings: Settings, own: ConnectionSettings | None = None, *, clock: Clock = utcnow) -> FastAPI:
    """The connection service's app with its runtime."""
    own = own or ConnectionSettings()
    runtime = Runtime(settings, service="connection")
    store = runtime.event_store(KINDS, inbox=CONNECTION_COMMANDS, changelog=CONNECTION_STATE)
    key_ring = key_ring_of(settings, own)
    views = views_at(settings)
    owners = HttpOwners(via=f"connection/{settings.instance}")
    service = ConnectionService(
        store=store, sealer=FernetSealer(key_ring), views=views, owners=owners, clock=clock,
        upcoming_days=own.compliance_upcoming_days,
    )  # fmt: skip
    runtime.subscribe(list(TOPICS), views, name="views")
    runtime.add(Periodic("connection-views-window", views.forget_applied, interval=FORGET_APPLIED_SECONDS))
    runtime.add(owners)
    runtime.inbox(Inbox(service, runtime.dead_letters, ready=runtime.wait_caught_up))
    sender = CommandSender(settings)
    runtime.add(sender)
    runtime.add(FaustComponent(router_app(settings, sender, runtime.dead_letters)))
    worker = enforcement_worker(settings, own, service)
    runtime.add(worker)
    runtime.add(Periodic("enforcement-sweep", worker.sweep, interval=own.enforcement_sweep_seconds))
    check = when_ready(store, partial(check_overdue, service))
    checks = Periodic("compliance-check", check, interval=own.compliance_check_seconds, first_after=0)
    runtime.add(checks)
    runtime.measure(OVERDUE_COMPLIANCE, lambda: tally(overdue_by_kind(service), COMPLIANCE_ITEMS))
    runtime.expose(LiveReadModel(settings, READ_MODELS.topics, snapshot=partial(read_model, service), sinks=[views]))
    app = create_app(
        runtime,
        service,
        title="smguard connection service",
        description="Operators, connections and their secrets, blocks, block policy, reconnection, enforcement.",
        routers=[api.router, api_compliance.router, api_policy.router, api_secrets.router],
        bodies={api.BULK_PATH: max(own.max_bulk_body_bytes, settings.max_body_bytes)},
    )
    app.state.views, app.state.enforcement, app.state.compliance_check = views, worker, checks
    app.state.max_bulk_rows = own.max_bulk_rows
    return app
