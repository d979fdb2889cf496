"""Commands of the notification service: set a contact, acknowledge, queue, record attempts, escalate."""

from __future__ import annotations

from datetime import datetime

from shared.eventstore import AppendResult, Context, EventStore
from shared.events.contact import ContactEvent
from shared.events.notification import NotificationEvent, NotificationQueued
from services.notification.domain.contacts import OperatorContacts, SetContact
from services.notification.domain.model import Notification, RetryPolicy

SYSTEM_ACTOR = "system:notification"


def load_contacts(store: EventStore, operator_id: str) -> OperatorContacts:
    """An operator's contacts as their events left them."""
    events = [e.event for e in store.load(operator_id) if isinstance(e.event, ContactEvent)]
    return OperatorContacts.rehydrate(operator_id, events)


def load_notification(store: EventStore, notification_id: str) -> Notification | None:
    """A notification, or None when there is no such notification."""
    events = [e.event for e in store.load(notification_id) if isinstance(e.event, NotificationEvent)]
    return Notification.rehydrate(notification_id, events) if events else None


async def set_contact(store: EventStore, command: SetContact, *, context: Context) -> tuple[OperatorContacts, bool]:
    """Register or change a contact; returns the contacts and whether an event was appended."""
    contacts = load_contacts(store, command.operator_id)
    contacts.set_contact(command)
    events = contacts.take_pending()
    if events:
        await store.append(command.operator_id, events, expected_version=store.version(command.operator_id), context=context)
    return contacts, bool(events)


async def acknowledge(store: EventStore, notification: Notification, *, by: str, context: Context) -> Notification:
    """Record the recipient side's acknowledgement (once)."""
    notification.acknowledge(by)
    events = notification.take_pending()
    if events:
        await store.append(notification.id, events, idempotency_key=f"ack:{notification.id}", context=context)
    return notification


async def queue(store: EventStore, event: NotificationQueued, *, key: str, context: Context) -> AppendResult:
    """Queue a notification under its idempotency key (a second call with the key adds nothing)."""
    return await store.append(event.notification_id, [event], expected_version=0, idempotency_key=key, context=context)


async def record_attempt(
    store: EventStore,
    notification: Notification,
    errors: dict[str, str | None],
    *,
    now: datetime,
    policy: RetryPolicy,
    permanent: bool = False,
) -> None:
    """Append what one delivery attempt gave."""
    attempt = notification.attempts + 1
    notification.record_attempt(errors, now=now, policy=policy, permanent=permanent)
    await store.append(
        notification.id,
        notification.take_pending(),
        idempotency_key=f"attempt:{notification.id}:{attempt}",
        context=Context(actor=SYSTEM_ACTOR, operator_id=notification.queued.operator_id if notification.queued else None),
    )


async def escalate(store: EventStore, notification: Notification, follow_up: NotificationQueued, *, reason: str) -> None:
    """Queue the message to the fallback contact, then mark the original escalated (each idempotent)."""
    context = Context(actor=SYSTEM_ACTOR, operator_id=follow_up.operator_id, causation_id=notification.id)
    first = await queue(store, follow_up, key=f"escalate:{notification.id}", context=context)
    queued = first.envelopes[0].event
    assert isinstance(queued, NotificationQueued)
    notification.escalate(queued.recipient, reason=reason, escalation_id=queued.notification_id)
    await store.append(notification.id, notification.take_pending(), idempotency_key=f"escalated:{notification.id}", context=context)
