"""The messages the service sends: a notification of a domain event, an escalation, and what a channel gets."""

from __future__ import annotations

from shared.events.notification import NotificationQueued, Recipient
from services.notification.application.ports import OutboundMessage
from services.notification.application.service import NotificationService
from services.notification.domain import messages
from services.notification.domain.commands import QueueNotification
from services.notification.domain.model import Notification
from services.notification.domain.recipients import channels_of

REASONS = {  # why an escalation happened: (Japanese, English)
    True: ("配信できませんでした", "it could not be delivered"),
    False: ("期限内に受領確認がありませんでした", "it was not acknowledged in time"),
}


def notification(
    service: NotificationService, command: QueueNotification, recipient: Recipient, *, notification_id: str
) -> NotificationQueued:
    """The NotificationQueued a queue command calls for, its texts rendered now (so a replay never re-renders)."""
    envelope, url = command.event, service.ack_url(notification_id)
    context = messages.context(
        envelope, title_ja=command.title_ja, title_en=command.title_en, notification_id=notification_id,
        recipient=recipient, direction=command.direction, incident=command.incident, connection=command.connection,
        ack_url=url,
    )  # fmt: skip
    subject, body = service.texts.message(context)
    channels = channels_of(recipient)
    return NotificationQueued(
        notification_id=notification_id, domain_event_id=envelope.id, domain_event_type=envelope.type,
        operator_id=command.operator_id, subject_id=envelope.subject, route=command.direction,  # type: ignore[arg-type]
        channel=channels[0], channels=channels, recipient=recipient,
        title=f"{command.title_ja} / {command.title_en}", message_subject=subject, message_body=body,
        details={"ack_url": url, "title_ja": command.title_ja, "title_en": command.title_en,
                 "incident_id": command.incident.get("id"), "connection_id": command.connection.get("id")},
    )  # fmt: skip


def escalation(
    service: NotificationService, original: Notification, to: Recipient, *, notification_id: str
) -> NotificationQueued:
    """The message to the fallback contact (``notification_id``): the original, with why it is handed on."""
    queued = original.queued
    assert queued is not None
    url = service.ack_url(notification_id)
    reason_ja, reason_en = REASONS[original.final_failure]
    subject, body = service.texts.escalation({
        "recipient": to, "original_recipient": queued.recipient, "reason_ja": reason_ja, "reason_en": reason_en,
        "ack_url": url, "original_id": original.id, "original_subject": queued.message_subject,
        "original_body": queued.message_body,
    })  # fmt: skip
    channels = channels_of(to)
    return queued.model_copy(update={
        "notification_id": notification_id, "recipient": to, "channel": channels[0], "channels": channels,
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
        "id": notification.id,
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
