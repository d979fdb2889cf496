"""Turns every domain event the other party must learn of into a queued notification (effectively once)."""

from __future__ import annotations

import logging

from shared.envelope import Envelope, new_id
from shared.eventstore import Context, EventStore
from shared.events.notification import NotificationQueued, Recipient
from shared.kafka.sinks import MemorySink
from services.notification.adapters.templates import Templates
from services.notification.application.handlers import SYSTEM_ACTOR, load_contacts, queue
from services.notification.domain import messages
from services.notification.domain.recipients import Desk, channels_of, primary
from services.notification.domain.routing import Route, routes_for
from services.notification.projections import knowledge as known

log = logging.getLogger(__name__)


def ack_url(base_url: str, notification_id: str) -> str:
    """Where the recipient acknowledges a notification."""
    return f"{base_url.rstrip('/')}/notifications/{notification_id}/ack"


class Notifier(MemorySink):
    """Consumes every event topic: decides from the routing table, appends NotificationQueued."""

    def __init__(self, store: EventStore, *, desk: Desk, templates: Templates, base_url: str) -> None:
        super().__init__()
        self.store, self.desk, self.templates, self.base_url = store, desk, templates, base_url
        self.knowledge = known.Knowledge()

    async def handle(self, envelope: Envelope) -> None:
        """Learn from the event, then queue each notification it calls for that is not queued yet."""
        known.apply(self.knowledge, envelope)
        operators = known.operators_concerned(self.knowledge, envelope)
        for route in routes_for(envelope.event, event_id=envelope.id, operators=operators):
            if not self.store.seen(route.idempotency_key):
                await self._queue(envelope, route)

    async def _queue(self, envelope: Envelope, route: Route) -> None:
        contacts = load_contacts(self.store, route.operator_id) if route.operator_id else None
        recipient = primary(route.target, operator_id=route.operator_id, contacts=contacts, desk=self.desk)
        event = self.compose(envelope, route, recipient)
        context = Context(
            actor=SYSTEM_ACTOR,
            operator_id=route.operator_id,
            correlation_id=envelope.correlation_id,
            causation_id=envelope.id,
        )
        await queue(self.store, event, key=route.idempotency_key, context=context)
        log.info("notification queued", extra={"notification_id": event.notification_id, "event_id": envelope.id})

    def compose(self, envelope: Envelope, route: Route, recipient: Recipient) -> NotificationQueued:
        """The NotificationQueued for one route, its texts rendered now (so a replay never re-renders)."""
        notification_id = new_id()
        event = envelope.event
        incident_id = getattr(event, "incident_id", None)
        connection_id = getattr(event, "connection_id", None)
        incident = dict(self.knowledge.incident(incident_id)) or ({"id": incident_id} if incident_id else {})
        connection = dict(self.knowledge.connection(connection_id)) or ({"id": connection_id} if connection_id else {})
        url = ack_url(self.base_url, notification_id)
        context = messages.context(
            envelope, title_ja=route.rule.title_ja, title_en=route.rule.title_en, notification_id=notification_id,
            recipient=recipient, direction=route.direction, incident=incident, connection=connection, ack_url=url,
        )
        subject, body = self.templates.message(context)
        channels = channels_of(recipient)
        return NotificationQueued(
            notification_id=notification_id,
            domain_event_id=envelope.id,
            domain_event_type=envelope.type,
            operator_id=route.operator_id,
            subject_id=envelope.subject,
            route=route.direction,  # type: ignore[arg-type]
            channel=channels[0],
            channels=channels,
            recipient=recipient,
            title=f"{route.rule.title_ja} / {route.rule.title_en}",
            message_subject=subject,
            message_body=body,
            details={"ack_url": url, "title_ja": route.rule.title_ja, "title_en": route.rule.title_en,
                     "incident_id": incident_id, "connection_id": connection_id},
        )
