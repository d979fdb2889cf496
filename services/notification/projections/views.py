"""Read models of contacts and notifications, rebuilt from the service's own topics."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.envelope import Envelope
from shared.events.contact import ContactEvent
from shared.events.notification import (
    NotificationAcknowledged,
    NotificationDelivered,
    NotificationEscalated,
    NotificationFailed,
    NotificationQueued,
)
from shared.kafka.sinks import MemorySink
from services.notification.domain.contacts import CONTACT_FIELDS


@dataclass
class Views:
    """Contacts per operator and notifications by id (dicts shaped as the API answers)."""

    contacts: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    notifications: dict[str, dict[str, Any]] = field(default_factory=dict)


def _queued(envelope: Envelope, event: NotificationQueued) -> dict[str, Any]:
    return {
        "id": event.notification_id,
        "status": "queued",
        "route": event.route,
        "channel": event.channel,
        "channels": list(event.channels or [event.channel]),
        "delivered_channels": [],
        "operator_id": event.operator_id,
        "recipient": event.recipient.model_dump(mode="json"),
        "title": event.title,
        "subject": event.message_subject,
        "domain_event": {"type": event.domain_event_type, "id": event.domain_event_id, "subject": event.subject_id},
        "escalation_of": event.escalation_of,
        "attempts": 0,
        "last_error": None,
        "next_attempt_at": None,
        "final": False,
        "queued_at": envelope.time.isoformat(),
        "delivered_at": None,
        "acknowledged_by": None,
        "acknowledged_at": None,
        "escalated_to": None,
        "escalation_notification_id": None,
        "version": envelope.sequence,
    }


def _settle_status(view: dict[str, Any]) -> None:
    if view["acknowledged_by"]:
        view["status"] = "acknowledged"
    elif view["escalated_to"]:
        view["status"] = "escalated"
    elif set(view["channels"]) <= set(view["delivered_channels"]):
        view["status"] = "delivered"
    elif view["attempts"]:
        view["status"] = "failed"


def apply(views: Views, envelope: Envelope) -> Views:
    """Fold one event of the contact or notification topic into the views."""
    event = envelope.event
    if isinstance(event, ContactEvent):
        contact = {name: getattr(event, name) for name in CONTACT_FIELDS}
        contact.update(kind=event.kind, updated_at=envelope.time.isoformat(), version=envelope.sequence)
        views.contacts.setdefault(event.operator_id, {})[event.kind] = contact
        return views
    if isinstance(event, NotificationQueued):
        views.notifications[event.notification_id] = _queued(envelope, event)
        return views
    view = views.notifications.get(getattr(event, "notification_id", ""))
    if view is None:
        return views
    view["version"] = envelope.sequence
    if isinstance(event, NotificationDelivered):
        view["attempts"] = max(view["attempts"], event.attempt)
        view["delivered_channels"].append(event.channel or view["channel"])
        view["delivered_at"] = event.delivered_at.isoformat()
    elif isinstance(event, NotificationFailed):
        view["attempts"] = max(view["attempts"], event.attempt)
        view["last_error"], view["final"] = event.error, event.final
        view["next_attempt_at"] = event.next_attempt_at.isoformat() if event.next_attempt_at else None
    elif isinstance(event, NotificationAcknowledged):
        view["acknowledged_by"], view["acknowledged_at"] = event.acknowledged_by, envelope.time.isoformat()
    elif isinstance(event, NotificationEscalated):
        view["escalated_to"] = event.escalated_to.model_dump(mode="json")
        view["escalation_notification_id"] = event.escalation_notification_id
    _settle_status(view)
    return views


class ViewSink(MemorySink):
    """Keeps the views current from the contact and notification topics."""

    def __init__(self) -> None:
        super().__init__()
        self.views = Views()

    async def handle(self, envelope: Envelope) -> None:
        """Apply the event to the views."""
        apply(self.views, envelope)
