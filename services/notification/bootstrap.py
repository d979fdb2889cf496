"""Composition root of the notification service: store, subscribers, dispatcher, channels, routes, read models."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI

from shared import topics
from shared.backoff import Backoff
from shared.clock import Clock, utcnow
from shared.config import Settings
from shared.eventstore import EventStore
from shared.events.notification import Recipient
from shared.periodic import Periodic
from shared.replay import LiveReadModel, ReadModels, SinkProjector
from shared.runtime import Runtime
from shared.service import create_app
from services.notification.adapters.smtp import SmtpSender
from services.notification.adapters.templates import Templates
from services.notification.adapters.webhook import WebhookSender
from services.notification.application import handlers
from services.notification.application.ports import Sender
from services.notification.application.service import NotificationService
from services.notification.config import NotificationSettings
from services.notification.domain.model import RetryPolicy
from services.notification.domain.recipients import Desk
from services.notification.entrypoints.api import router
from services.notification.entrypoints.streams import DomainEvents
from services.notification.projections.readmodel import snapshot
from services.notification.projections.views import Views, ViewSink

OWN_TOPICS = (topics.CONTACT_EVENTS, topics.NOTIFICATION_EVENTS)
DOMAIN_TOPICS = [
    topics.INCIDENT_EVENTS, topics.CONNECTION_EVENTS, topics.POLICY_EVENTS, topics.OPERATOR_EVENTS, topics.CONTACT_EVENTS,
]


def _scratch(settings: Settings) -> SinkProjector:
    """Fresh views fed from both own topics, as the live service feeds its own (nothing is queued or sent)."""
    views = ViewSink()
    return SinkProjector(settings, {base: views for base in OWN_TOPICS}, lambda: snapshot(views.views))


READ_MODELS = ReadModels(service="notification", topics=OWN_TOPICS, scratch=_scratch)


def desk_of(config: NotificationSettings) -> Desk:
    """The utility desk and its fallback, from settings."""
    return Desk(
        primary=Recipient(
            kind="utility_desk", name=f"{config.desk_name} ({config.desk_organisation})",
            email=config.desk_email, webhook_url=config.desk_webhook_url,
        ),
        fallback=Recipient(kind="utility_desk", name=config.desk_fallback_name, email=config.desk_fallback_email),
    )  # fmt: skip


def senders_of(config: NotificationSettings) -> dict[str, Sender]:
    """The real channels: SMTP and signed webhooks."""
    return {
        "email": SmtpSender(host=config.smtp_host, port=config.smtp_port, sender=config.smtp_from, timeout=config.smtp_timeout_seconds),
        "webhook": WebhookSender(secret=config.webhook_secret.encode(), timeout=config.webhook_timeout_seconds),
    }


def build_service(
    store: EventStore,
    *,
    config: NotificationSettings,
    senders: dict[str, Sender],
    clock: Clock = utcnow,
    views: Views | None = None,
) -> NotificationService:
    """The service object the handlers work with (handler tests pass an in-memory store and fake senders)."""
    return NotificationService(
        store=store,
        senders=senders,
        texts=Templates(),
        desk=desk_of(config),
        policy=RetryPolicy(config.delivery_max_attempts, Backoff(config.retry_base_seconds, config.retry_max_seconds)),
        ack_timeout=timedelta(seconds=config.ack_timeout_seconds),
        base_url=config.public_base_url,
        clock=clock,
        views=views if views is not None else Views(),
    )


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
    views = ViewSink()
    store = runtime.event_store(list(OWN_TOPICS))
    service = build_service(store, config=config, senders=senders or senders_of(config), clock=clock, views=views.views)
    runtime.subscribe(list(OWN_TOPICS), views, name="views")
    runtime.subscribe(DOMAIN_TOPICS, DomainEvents(service), name="notifier")
    tick = Periodic("notification.dispatcher", lambda: handlers.dispatch(service), interval=config.dispatch_interval_seconds, first_after=0)
    runtime.add(tick)
    runtime.expose(LiveReadModel(settings, OWN_TOPICS, snapshot=lambda: snapshot(views.views), sinks=[views]))
    app = create_app(
        runtime,
        service,
        title="smguard notification service",
        description="Contacts of operators and the utility desk; notifications by e-mail and signed webhook.",
        routers=[router],
    )
    return app
