"""The dispatcher's work: deliver what is due, escalate what waited too long — for the notifications this instance owns.

It finds its work by the ``unsettled`` index among committed notifications only (a message is never
sent for a notification whose queueing might still fail to commit), and records every outcome through
the repository under a key, so a retried tick records nothing twice.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Mapping

from shared.eventstore import Context
from shared.events.notification import NotificationQueued, Recipient
from shared.repository import Saved
from services.notification.application import compose
from services.notification.application.queueing import SYSTEM_ACTOR
from services.notification.application.ports import DeliveryError, Sender, Undeliverable
from services.notification.application.service import NotificationService
from services.notification.domain.model import Notification
from services.notification.domain.recipients import fallback

MAX_CONCURRENT = 8  # deliveries worked on side by side in one tick
MAX_PER_TICK = 200  # due notifications taken on in one tick; the rest wait for the next
log = logging.getLogger(__name__)


def due(service: NotificationService, now: datetime) -> list[Notification]:
    """Owned, committed, unsettled notifications due for a delivery or an escalation (at most MAX_PER_TICK)."""
    found: list[Notification] = []
    for notification_id in service.store.find("unsettled", "1", committed=True):
        notification = service.notifications.load(notification_id)
        if notification.due_for_delivery(now) or notification.due_for_escalation(now, ack_timeout=service.ack_timeout):
            found.append(notification)
            if len(found) == MAX_PER_TICK:
                break
    return found


async def dispatch(service: NotificationService) -> None:
    """The periodic tick: deliver what is due, escalate what waited too long, a few notifications side by side."""
    now = service.clock()
    limit = asyncio.Semaphore(MAX_CONCURRENT)

    async def work(notification: Notification) -> None:
        async with limit:
            if notification.due_for_delivery(now):
                await deliver(service, notification.id, now=now)
            else:
                await escalate(service, notification.id)

    results = await asyncio.gather(*(work(n) for n in due(service, now)), return_exceptions=True)
    for error in [r for r in results if isinstance(r, Exception)]:
        log.error("notification work failed; retried next tick", extra={"error": repr(error)})


async def deliver(service: NotificationService, notification_id: str, *, now: datetime) -> Saved:
    """Try every channel that has not accepted the message yet, then record what each answered.

    The outcome is recorded whatever happened to the notification meanwhile (an acknowledgement may
    arrive while a channel is still sending): what went out is a fact the audit trail keeps. While it
    is being sent, no member joins it (``service.sending``): they go to a digest.
    """
    notification = service.notifications.get(notification_id)
    service.sending.add(notification_id)  # before the first await: no member joins a text on its way
    try:
        errors, permanent = await _send(service.senders, notification)
        return await service.notifications.change(
            notification_id,
            lambda n: n.record_attempt(errors, now=now, policy=service.policy, permanent=permanent),
            context=Context(actor=SYSTEM_ACTOR, operator_id=notification.operator_id),
            idempotency_key=f"attempt:{notification_id}:{notification.attempts + 1}",
        )
    finally:
        service.sending.discard(notification_id)


async def _send(senders: Mapping[str, Sender], notification: Notification) -> tuple[dict[str, str | None], bool]:
    """Each pending channel's answer (None = accepted), and whether a failure is one no retry can mend."""
    message = compose.outbound(notification)
    errors: dict[str, str | None] = {}
    permanent = False
    for channel in notification.pending_channels:
        try:
            await senders[channel].send(message)
            errors[channel] = None
        except DeliveryError as exc:
            errors[channel] = str(exc)
            permanent = permanent or isinstance(exc, Undeliverable)
    return errors, permanent


async def escalate(service: NotificationService, notification_id: str) -> Saved:
    """Queue the message to the fallback contact, then mark the original escalated (each once, by its key).

    The follow-up is created on the original's partition (this instance's), under the key
    ``escalate:<id>``: a retried escalation — after a crash, by whichever instance owns the original
    then — answers with the first follow-up and queues no second message.
    """
    original = service.notifications.get(notification_id)
    assert original.queued is not None
    contacts = service.views.contacts_of(original.operator_id) if original.operator_id else None
    to = fallback(original.queued.recipient, contacts=contacts, desk=service.desk)
    context = Context(actor=SYSTEM_ACTOR, operator_id=original.operator_id, causation_id=notification_id)
    first = await _follow_up(service, original, to, context=context)
    follow_up = first.first(NotificationQueued)
    assert follow_up is not None

    def hand_on(notification: Notification) -> None:
        reason = compose.escalation_reason(original)
        notification.escalate(follow_up.recipient, reason=reason, escalation_id=follow_up.notification_id)

    saved = await service.notifications.change(
        notification_id, hand_on, context=context, expected_version=original.version,
        idempotency_key=f"escalated:{notification_id}",
    )  # fmt: skip
    log.info("notification escalated", extra={"notification_id": notification_id, "to": follow_up.recipient.kind})
    return saved


async def _follow_up(service: NotificationService, original: Notification, to: Recipient, *, context: Context) -> Saved:
    """The escalation message as first queued (``Repository.create``'s steps, the id near the original, not the key)."""
    key = f"escalate:{original.id}"
    earlier = await service.store.answer(key)
    if earlier is not None:
        return Saved.of(earlier)
    follow_id = service.notifications.new_id(near=original.id)
    notification = Notification.queue(compose.escalation(service, original, to, notification_id=follow_id))
    return await service.notifications.save(notification, context=context, idempotency_key=key)
