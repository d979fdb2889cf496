"""Composition root of the notification service: store, inbox, router, read models, dispatcher, channels, routes."""

from __future__ import annotations

import shutil
import tempfile
from datetime import timedelta
from functools import partial
from pathlib import Path

from fastapi import FastAPI

from shared import devsecrets, topics
from shared.backoff import Backoff
from shared.clock import Clock, utcnow
from shared.config import Settings
from shared.kafka import clients
from shared.eventstore import EventStore
from shared.events.notification import Recipient
from shared.kafka.commands import CommandSender
from shared.metrics import NOTIFICATION_STATES, NOTIFICATIONS, tally
from shared.periodic import Periodic
from shared.replay import LiveReadModel, ReadModels, SinkProjector
from shared.runtime import FaustComponent, Runtime
from shared.service import create_app
from shared.streams import faust_app
from services.notification.adapters.commits import CommitWatch
from services.notification.adapters.destinations import ResolvingDestinations
from services.notification.adapters.smtp import SmtpSender
from services.notification.adapters.templates import Templates
from services.notification.adapters.webhook import WebhookSender
from services.notification.application.delivery import dispatch
from services.notification.application.ports import Destinations, Sender
from services.notification.application.service import NotificationService
from services.notification.config import NotificationSettings
from services.notification.domain.coalescing import Pacing
from services.notification.domain.contacts import OperatorContacts
from services.notification.domain.model import Notification, RetryPolicy
from services.notification.domain.recipients import Desk
from services.notification.entrypoints.api import router
from services.notification.entrypoints.inbox import Inbox
from services.notification.entrypoints.streams import Router, install_router
from services.notification.projections.knowledge import Knowledge
from services.notification.projections.readmodel import snapshot
from services.notification.projections.views import NotificationViews

VIEW_TOPICS = (topics.CONTACT_EVENTS, topics.NOTIFICATION_EVENTS)
KNOWLEDGE_TOPICS = (topics.INCIDENT_EVENTS, topics.CONNECTION_EVENTS, topics.POLICY_EVENTS, topics.OPERATOR_EVENTS)
ROUTED_TOPICS = (*KNOWLEDGE_TOPICS, topics.CONTACT_EVENTS)  # every domain topic but the service's own notifications
READ_MODEL_TOPICS = (*VIEW_TOPICS, *KNOWLEDGE_TOPICS)
DEV_WEBHOOK_SECRET = "dev-webhook-secret"


def _scratch(settings: Settings) -> SinkProjector:
    """Fresh read models in a temporary folder, fed as the live ones are (nothing is queued or sent); removed after."""
    folder = Path(tempfile.mkdtemp(prefix="smguard-replay-notification-"))
    views, knowledge = NotificationViews(folder / "views.sqlite"), Knowledge(folder / "knowledge.sqlite")

    def finish() -> dict:
        taken = snapshot(views, knowledge)
        views.close()
        knowledge.close()
        shutil.rmtree(folder, ignore_errors=True)
        return taken

    feeders = {base: views for base in VIEW_TOPICS} | {base: knowledge for base in KNOWLEDGE_TOPICS}
    return SinkProjector(settings, feeders, finish)


READ_MODELS = ReadModels(service="notification", topics=READ_MODEL_TOPICS, scratch=_scratch)


def desk_of(config: NotificationSettings) -> Desk:
    """The utility desk and its fallback, from settings."""
    return Desk(
        primary=Recipient(
            kind="utility_desk", name=f"{config.desk_name} ({config.desk_organisation})",
            email=config.desk_email, webhook_url=config.desk_webhook_url,
        ),
        fallback=Recipient(kind="utility_desk", name=config.desk_fallback_name, email=config.desk_fallback_email),
    )  # fmt: skip


def webhook_master(config: NotificationSettings, data_dir: Path) -> bytes:
    """The key webhook secrets derive from: configured, else the development one kept in the data folder."""
    return devsecrets.configured_or_dev(config.webhook_secret, data_dir, DEV_WEBHOOK_SECRET)


def senders_of(config: NotificationSettings, service: NotificationService) -> dict[str, Sender]:
    """The real channels: SMTP and signed webhooks (each recipient's own secret, destinations checked)."""
    return {
        "email": SmtpSender(host=config.smtp_host, port=config.smtp_port, sender=config.smtp_from, timeout=config.smtp_timeout_seconds),
        "webhook": WebhookSender(
            secret_of=service.webhook_secret, destinations=service.destinations, timeout=config.webhook_timeout_seconds,
        ),
    }  # fmt: skip


def build_service(
    store: EventStore,
    *,
    config: NotificationSettings,
    senders: dict[str, Sender],
    views: NotificationViews,
    knowledge: Knowledge,
    master: bytes,
    destinations: Destinations | None = None,
    clock: Clock = utcnow,
) -> NotificationService:
    """The service object the handlers work with (handler tests pass an in-memory store and fake senders)."""
    return NotificationService(
        store=store, senders=senders, texts=Templates(), desk=desk_of(config),
        policy=RetryPolicy(config.delivery_max_attempts, Backoff(config.retry_base_seconds, config.retry_max_seconds)),
        ack_timeout=timedelta(seconds=config.ack_timeout_seconds), base_url=config.public_base_url,
        views=views, knowledge=knowledge, clock=clock, webhook_master=master,
        destinations=destinations or ResolvingDestinations(config.destination_policy()),
        pacing=Pacing(hold=timedelta(seconds=config.notice_hold_seconds), digest=timedelta(seconds=config.notice_digest_seconds)),
    )  # fmt: skip


def read_models_of(settings: Settings) -> tuple[NotificationViews, Knowledge]:
    """This instance's durable read models (``data_dir/readmodels``), their dedupe window the key window."""
    folder, window = settings.data_dir / "readmodels", settings.key_window_days * 86400
    name = f"notification-{settings.instance}"
    return (
        NotificationViews(folder / f"{name}-views.sqlite", window_seconds=window),
        Knowledge(folder / f"{name}-knowledge.sqlite", window_seconds=window),
    )


def _router(runtime: Runtime, service: NotificationService) -> Router:
    """The read models' subscribers, and the router — a faust agent — that waits for them before it routes an event."""
    settings, views, knowledge = runtime.settings, service.views, service.knowledge
    feeding_views = runtime.subscribe(list(VIEW_TOPICS), views, name="views")
    feeding_knowledge = runtime.subscribe(list(KNOWLEDGE_TOPICS), knowledge, name="knowledge")
    feeds = {base: (views, feeding_views) for base in VIEW_TOPICS} | {base: (knowledge, feeding_knowledge) for base in KNOWLEDGE_TOPICS}
    watch = CommitWatch(clients.access(settings), {settings.topic(base): feed for base, feed in feeds.items()})
    sender = CommandSender(settings)
    routing = Router(service, watch=watch, sender=sender, dead_letters=runtime.dead_letters)
    agents = faust_app(settings, service="notification")
    install_router(agents, topics=[settings.topic(base) for base in ROUTED_TOPICS], router=routing)
    for component in (watch, sender, FaustComponent(agents)):
        runtime.add(component)
    return routing


def build_app(
    settings: Settings,
    *,
    config: NotificationSettings | None = None,
    clock: Clock = utcnow,
    senders: dict[str, Sender] | None = None,
) -> FastAPI:
    """The notification service's app (HTTP routes plus its Kafka work and dispatcher)."""
    config = config or NotificationSettings()
    runtime = Runtime(settings, service="notification")
    store = runtime.event_store(
        kinds={topics.CONTACT_EVENTS: OperatorContacts, topics.NOTIFICATION_EVENTS: Notification},
        inbox=topics.NOTIFICATION_COMMANDS, changelog=topics.NOTIFICATION_STATE,
    )  # fmt: skip
    views, knowledge = read_models_of(settings)
    master = webhook_master(config, settings.data_dir)
    service = build_service(store, config=config, senders={}, views=views, knowledge=knowledge, master=master, clock=clock)
    service.senders = senders or senders_of(config, service)
    inbox = runtime.inbox(Inbox(service, runtime.dead_letters))
    routing = _router(runtime, service)
    runtime.add(Periodic("notification.dispatcher", partial(dispatch, service), interval=config.dispatch_interval_seconds, first_after=0))
    forget = Periodic("notification.forget-applied", lambda: [m.forget_applied() for m in (views, knowledge)], interval=3600)
    runtime.add(forget)
    runtime.measure(NOTIFICATIONS, lambda: tally(views.by_status(), NOTIFICATION_STATES))
    runtime.expose(LiveReadModel(settings, READ_MODEL_TOPICS, snapshot=partial(snapshot, views, knowledge), sinks=[views, knowledge]))
    app = create_app(
        runtime, service, title="smguard notification service",
        description="Contacts of operators and the utility desk; notifications by e-mail and signed webhook.",
        routers=[router],
    )  # fmt: skip
    app.state.router, app.state.inbox = routing, inbox
    return app
