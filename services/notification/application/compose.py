"""The messages the service sends: a notification of a domain event, an escalation, and what a channel gets."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Sequence

from shared.events.notification import Coalescing, NotificationQueued, Recipient
from services.notification.application.ports import OutboundMessage
from services.notification.application.service import NotificationService
from services.notification.domain import messages
from services.notification.domain.coalescing import MEMBERS_PER_EVENT, Group, Render
from services.notification.domain.commands import QueueNotification
from services.notification.domain.model import Notification
from services.notification.domain.recipients import channels_of

REASONS = {  # why an escalation happened: (Japanese, English)
    True: ("配信できませんでした", "it could not be delivered"),
    False: ("期限内に受領確認がありませんでした", "it was not acknowledged in time"),
}


def _context(service: NotificationService, command: QueueNotification, recipient: Recipient, notification_id: str) -> dict[str, Any]:
    return messages.context(
        command.event, title_ja=command.title_ja, title_en=command.title_en, notification_id=notification_id,
        recipient=recipient, direction=command.direction, incident=command.incident, connection=command.connection,
        ack_url=service.ack_url(notification_id),
    )  # fmt: skip


def notification(
    service: NotificationService, command: QueueNotification, recipient: Recipient, *, notification_id: str
) -> NotificationQueued:
    """The NotificationQueued a queue command calls for, its texts rendered now (so a replay never re-renders)."""
    subject, body = service.texts.message(_context(service, command, recipient, notification_id))
    return _queued(service, command, recipient, notification_id=notification_id, subject=subject, body=body)


def coalesced(
    service: NotificationService,
    commands: Sequence[QueueNotification],
    recipient: Recipient,
    *,
    notification_id: str,
    now: datetime,
    hold_until: datetime,
    digest_of: str | None = None,
) -> Notification:
    """A group's new notice of these commands' members (a digest when it follows ``digest_of``): its head
    rendered from the first command, held until ``hold_until``; every text it will have is kept in its events."""
    first = commands[0]
    assert first.group is not None and all(c.member is not None for c in commands)
    context = {**_context(service, first, recipient, notification_id), "follow_up": digest_of is not None}
    head_subject, head_body = service.texts.head(context)
    members = [c.member for c in commands if c.member is not None]
    run = members[:MEMBERS_PER_EVENT]
    group = Group(first.group, hold_until, now, head_subject, head_body, digest_of=digest_of).joined(run)
    render = renderer(service, notification_id=notification_id, event=context["event"])
    subject, body = render(group)
    queued = _queued(service, first, recipient, notification_id=notification_id, subject=subject, body=body)
    coalescing = Coalescing(
        group=group.key, members=run, first_at=now, hold_until=hold_until, head_subject=head_subject,
        head_body=head_body, digest_of=digest_of,
    )  # fmt: skip
    details = {**queued.details, "members_url": service.members_url(notification_id)}
    queued = queued.model_copy(update={"coalescing": coalescing, "details": details})
    return Notification.queue(queued, more=members[len(run):], render=render)


def renderer(service: NotificationService, *, notification_id: str, event: dict[str, Any]) -> Render:
    """How a coalesced notice's text reads for its group as it stands (``event``: the first member's type, id, subject)."""

    def render(group: Group) -> tuple[str, str]:
        incidents = {m.incident_id for m in group.listed if m.incident_id}
        return service.texts.coalesced({
            "head_subject": group.head_subject, "head_body": group.head_body, "listed": group.listed,
            "count": group.count, "earliest_due": group.earliest_due, "digest_of": group.digest_of,
            "incident_id": next(iter(incidents)) if len(incidents) == 1 else None,
            "members_url": service.members_url(notification_id),
            "notification_id": notification_id, "event": event, "ack_url": service.ack_url(notification_id),
        })  # fmt: skip

    return render


def renderer_of(service: NotificationService, notification: Notification) -> Render:
    """How a queued coalesced notice's text reads as members join it."""
    queued = notification.queued
    assert queued is not None
    event = {"type": queued.domain_event_type, "id": queued.domain_event_id, "subject": queued.subject_id}
    return renderer(service, notification_id=notification.id, event=event)


def _queued(
    service: NotificationService, command: QueueNotification, recipient: Recipient, *, notification_id: str,
    subject: str, body: str,
) -> NotificationQueued:
    envelope, url = command.event, service.ack_url(notification_id)
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
        "ack_url": url, "original_id": original.id, "original_subject": original.message_subject,
        "original_body": original.message_body,
    })  # fmt: skip
    channels = channels_of(to)
    return queued.model_copy(update={
        "notification_id": notification_id, "recipient": to, "channel": channels[0], "channels": channels,
        "message_subject": subject, "message_body": body, "escalation_of": original.id, "coalescing": None,
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
        "subject": notification.message_subject,
        "text": notification.message_body,
        "ack_url": queued.details.get("ack_url"),
    }
    if notification.group is not None:
        listed = [m.model_dump(mode="json") for m in notification.group.listed]
        payload["members"] = {"count": notification.group.count, "listed": listed, "url": queued.details.get("members_url")}
    return OutboundMessage(notification.id, queued.recipient, notification.message_subject, notification.message_body, payload)
