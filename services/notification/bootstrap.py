"""Composition root of the notification service: store, subscribers, dispatcher, channels, routes."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI

from shared import topics
from shared.config import Settings
from shared.envelope import utcnow
from shared.events.notification import Recipient
from shared.runtime import Runtime
from shared.service import create_app
from services.notification.adapters.smtp import SmtpSender
from services.notification.adapters.templates import Templates
from services.notification.adapters.webhook import WebhookSender
from services.notification.application.dispatcher import Clock, Dispatcher
from services.notification.application.notifier import Notifier
from services.notification.application.ports import Sender
from services.notification.config import NotificationSettings
from services.notification.domain.model import RetryPolicy
from services.notification.domain.recipients import Desk
from services.notification.entrypoints.api import router
from services.notification.entrypoints.ops import ops_router
from services.notification.projections.views import ViewSink

OWN_TOPICS = [topics.CONTACT_EVENTS, topics.NOTIFICATION_EVENTS]
DOMAIN_TOPICS = [
    topics.INCIDENT_EVENTS, topics.CONNECTION_EVENTS, topics.POLICY_EVENTS, topics.OPERATOR_EVENTS, topics.CONTACT_EVENTS,
]


def desk_of(config: NotificationSettings) -> Desk:
    """The utility desk and its fallback, from settings."""
    return Desk(
        primary=Recipient(
            kind="utility_desk", name=f"{config.desk_name} ({config.desk_organisation})",
            email=config.desk_email, webhook_url=config.desk_webhook_url,
        ),
        fallback=Recipient(kind="utility_desk", name=config.desk_fallback_name, email=config.desk_fallback_email),
    )


def senders_of(config: NotificationSettings) -> dict[str, Sender]:
    """The real channels: SMTP and signed webhooks."""
    return {
        "email": SmtpSender(host=config.smtp_host, port=config.smtp_port, sender=config.smtp_from, timeout=config.smtp_timeout_seconds),
        "webhook": WebhookSender(secret=config.webhook_secret, timeout=config.webhook_timeout_seconds),
    }


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
    store = runtime.event_store(OWN_TOPICS)
    desk, templates = desk_of(config), Templates()
    views = ViewSink()
    runtime.subscribe(OWN_TOPICS, views, name="views")
    notifier = Notifier(store, desk=desk, templates=templates, base_url=config.public_base_url)
    runtime.subscribe(DOMAIN_TOPICS, notifier, name="notifier")
    dispatcher = Dispatcher(
        store,
        senders=senders or senders_of(config),
        policy=RetryPolicy(config.delivery_max_attempts, config.retry_base_seconds, config.retry_max_seconds),
        ack_timeout=timedelta(seconds=config.ack_timeout_seconds),
        desk=desk,
        templates=templates,
        base_url=config.public_base_url,
        interval=config.dispatch_interval_seconds,
        clock=clock,
    )
    runtime.add(dispatcher)
    app = create_app(
        runtime,
        title="smguard notification service",
        description="Contacts of operators and the utility desk; notifications by e-mail and signed webhook.",
        routers=[router, ops_router],
    )
    app.state.notification_store = store
    app.state.notification_views = views
    app.state.notification_dispatcher = dispatcher
    app.state.notifier = notifier
    return app
