"""Events of notifications (topic ``smguard.notification.events``, key = notification id)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Literal

from shared import topics
from shared.events.base import DomainEvent
from shared.events.values import Direction, Value

Channel = Literal["email", "webhook"]


class Recipient(Value):
    """Where a notification goes: an operator contact or the utility desk."""

    kind: Literal["security_incident", "applicant", "utility_desk"]
    operator_id: str | None = None
    name: str
    email: str | None = None
    webhook_url: str | None = None


class NoticeMember(Value):
    """One thing a coalesced notice tells of: a connection (meter) and/or an incident, from one domain event."""

    event_id: str
    connection_id: str | None = None
    incident_id: str | None = None
    due_at: datetime | None = None


class Coalescing(Value):
    """How a notice coalesces: its group (operator, incident or storm, kind of notice), the members it was
    queued with, when it may go out (``hold_until``), and its text without the member list (``head_*``)."""

    group: str
    members: list[NoticeMember]
    first_at: datetime
    hold_until: datetime
    head_subject: str
    head_body: str
    digest_of: str | None = None


class NotificationEvent(DomainEvent):
    """Base of the notification aggregate's events."""

    notification_id: str


class NotificationQueued(NotificationEvent):
    """A domain event the other party must learn of became a notification."""

    topic: ClassVar[str] = topics.NOTIFICATION_EVENTS
    domain_event_id: str
    domain_event_type: str
    operator_id: str | None = None
    subject_id: str | None = None
    route: Direction
    channel: Channel
    recipient: Recipient
    title: str
    channels: list[Channel] = []
    message_subject: str = ""
    message_body: str = ""
    details: dict[str, Any] = {}
    escalation_of: str | None = None
    coalescing: Coalescing | None = None


class NotificationExtended(NotificationEvent):
    """More members joined a coalesced notice before it went out; its text as it now reads."""

    topic: ClassVar[str] = topics.NOTIFICATION_EVENTS
    members: list[NoticeMember]
    member_count: int
    message_subject: str
    message_body: str


class NotificationFollowedUp(NotificationEvent):
    """A coalesced notice went out (or was due to): later members of its group go to a digest."""

    topic: ClassVar[str] = topics.NOTIFICATION_EVENTS
    digest_id: str


class NotificationDelivered(NotificationEvent):
    """The channel accepted the message."""

    topic: ClassVar[str] = topics.NOTIFICATION_EVENTS
    attempt: int
    delivered_at: datetime
    channel: Channel | None = None


class NotificationFailed(NotificationEvent):
    """A delivery attempt failed; retried with back-off unless ``final``."""

    topic: ClassVar[str] = topics.NOTIFICATION_EVENTS
    attempt: int
    error: str
    next_attempt_at: datetime | None = None
    final: bool = False
    channel: Channel | None = None


class NotificationAcknowledged(NotificationEvent):
    """The recipient side acknowledged the notification."""

    topic: ClassVar[str] = topics.NOTIFICATION_EVENTS
    acknowledged_by: str


class NotificationEscalated(NotificationEvent):
    """Not acknowledged in time: sent on to the fallback contact."""

    topic: ClassVar[str] = topics.NOTIFICATION_EVENTS
    escalated_to: Recipient
    reason: str
    escalation_notification_id: str | None = None
