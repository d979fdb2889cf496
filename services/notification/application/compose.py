"""The messages the service sends: a notification of a domain event, an escalation, and what a channel gets."""

from __future__ import annotations

from shared.envelope import Envelope, new_id
from shared.events.notification import NotificationQueued, Recipient
from services.notification.application.ports import OutboundMessage
from services.notification.application.service import NotificationService
from services.notification.domain import messages
from services.notification.domain.model import Notification
from services.notification.domain.recipients import channels_of
from services.notification.domain.routing import Route

REASONS = {  # why an escalation happened: (Japanese, English)
    True: ("配信できませんでした", "it could not be delivered"),
    False: ("期限内に受領確認がありませんでした", "it was not acknowledged in time"),
}


def notification(service: NotificationService, envelope: Envelope, route: Route, recipient: Recipient) -> NotificationQueued:
    """The NotificationQueued for one route, its texts rendered now (so a replay never re-renders)."""
    notification_id, event = new_id(), envelope.event
    incident_id, connection_id = getattr(event, "incident_id", None), getattr(event, "connection_id", None)
    incident = dict(service.knowledge.incident(incident_id)) or ({"id": incident_id} if incident_id else {})
    connection = dict(service.knowledge.connection(connection_id)) or ({"id": connection_id} if connection_id else {})
    url = service.ack_url(notification_id)
    context = messages.context(
        envelope, title_ja=route.rule.title_ja, title_en=route.rule.title_en, notification_id=notification_id,
        recipient=recipient, direction=route.direction, incident=incident, connection=connection, ack_url=url,
    )  # fmt: skip
    subject, body = service.texts.message(context)
    channels = channels_of(recipient)
    return NotificationQueued(
        notification_id=notification_id, domain_event_id=envelope.id, domain_event_type=envelope.type,
        operator_id=route.operator_id, subject_id=envelope.subject, route=route.direction,  # type: ignore[arg-type]
        channel=channels[0], channels=channels, recipient=recipient,
        title=f"{route.rule.title_ja} / {route.rule.title_en}", message_subject=subject, message_body=body,
        details={"ack_url": url, "title_ja": route.rule.title_ja, "title_en": route.rule.title_en,
                 "incident_id": incident_id, "connection_id": connection_id},
    )  # fmt: skip


def escalation(service: NotificationService, original: Notification, to: Recipient) -> NotificationQueued:
    """The message to the fallback contact: the original, with why it is handed on."""
    queued = original.queued
    assert queued is not None
    follow_id = new_id()
    url = service.ack_url(follow_id)
    reason_ja, reason_en = REASONS[original.final_failure]
    subject, body = service.texts.escalation({
        "recipient": to, "original_recipient": queued.recipient, "reason_ja": reason_ja, "reason_en": reason_en,
        "ack_url": url, "original_id": original.id, "original_subject": queued.message_subject,
        "original_body": queued.message_body,
    })  # fmt: skip
    channels = channels_of(to)
    return queued.model_copy(update={
        "notification_id": follow_id, "recipient": to, "channel": channels[0], "channels": channels,
        "message_subject": subject, "message_body": body, "escalation_of": original.id,
        "details": {**queued.details, "ack_url": url},
    })  # fmt: skip


def escalation_reason(original: Notification) -> str:
    """Why a notification escalates, as the NotificationEscalated event says it."""
    return REASONS[original.final_failure][1]


def outbound(notification: Notification) -> OutboundMessage:
    """The message a channel sends for a queued notification (webhook JSON included)."""
    queued = notification.queued
    assert queued is not None
    payload = {
        "notification_id": notification.id,
        "title": queued.title,
        "route": queued.route,
        "operator_id": queued.operator_id,
        "recipient": {"kind": queued.recipient.kind, "name": queued.recipient.name},
        "domain_event": {"type": queued.domain_event_type, "id": queued.domain_event_id, "subject": queued.subject_id},
        "escalation_of": queued.escalation_of,
        "subject": queued.message_subject,
        "text": queued.message_body,
        "ack_url": queued.details.get("ack_url"),
    }
    return OutboundMessage(notification.id, queued.recipient, queued.message_subject, queued.message_body, payload)
