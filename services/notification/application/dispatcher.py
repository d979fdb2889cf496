"""Delivery and escalation work, derived only from the service's own events (a restart never sends twice)."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Callable

from shared.envelope import new_id, utcnow
from shared.eventstore import EventStore
from shared.events.notification import NotificationQueued
from services.notification.adapters.templates import Templates
from services.notification.application import handlers
from services.notification.application.notifier import ack_url
from services.notification.application.ports import DeliveryError, OutboundMessage, Sender, Undeliverable
from services.notification.domain.model import Notification, RetryPolicy
from services.notification.domain.recipients import Desk, channels_of, fallback

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
MAX_CONCURRENT = 8


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


def settled(notification: Notification) -> bool:
    """Nothing more will happen to it: acknowledged, escalated, or an escalation that is delivered or failed."""
    if notification.acknowledged_by or notification.escalated_to:
        return True
    is_escalation = notification.queued is not None and notification.queued.escalation_of is not None
    return is_escalation and (notification.final_failure or not notification.pending_channels)


class Dispatcher:
    """Each tick: send what is due (queued, or failed with its back-off passed), escalate what waited too long."""

    def __init__(
        self,
        store: EventStore,
        *,
        senders: dict[str, Sender],
        policy: RetryPolicy,
        ack_timeout: timedelta,
        desk: Desk,
        templates: Templates,
        base_url: str,
        interval: float = 1.0,
        clock: Clock = utcnow,
    ) -> None:
        self.store, self.senders, self.policy, self.ack_timeout = store, senders, policy, ack_timeout
        self.desk, self.templates, self.base_url, self.interval, self.clock = desk, templates, base_url, interval, clock
        self._open: dict[str, None] = {}
        self._cursor = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Run ticks in the background."""
        self._task = asyncio.create_task(self._run(), name="notification-dispatcher")

    async def stop(self) -> None:
        """Stop after the tick under way is cancelled (its unrecorded sends are retried after restart)."""
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:  # one bad tick must not stop deliveries for good
                log.exception("dispatcher tick failed")
            await asyncio.sleep(self.interval)

    def _candidates(self) -> list[Notification]:
        envelopes = list(self.store.all())
        for envelope in envelopes[self._cursor:]:
            if isinstance(envelope.event, NotificationQueued):
                self._open[envelope.subject] = None
        self._cursor = len(envelopes)
        found = []
        for notification_id in list(self._open):
            notification = handlers.load_notification(self.store, notification_id)
            if notification is None or settled(notification):
                self._open.pop(notification_id, None)
            else:
                found.append(notification)
        return found

    async def tick(self) -> None:
        """One round of delivery and escalation; notifications are worked on side by side (a few at a time)."""
        now = self.clock()
        limit = asyncio.Semaphore(MAX_CONCURRENT)

        async def work(notification: Notification) -> None:
            async with limit:
                if notification.due_for_delivery(now):
                    await self.deliver(notification, now)
                elif notification.due_for_escalation(now, ack_timeout=self.ack_timeout):
                    await self.escalate(notification)

        results = await asyncio.gather(*(work(n) for n in self._candidates()), return_exceptions=True)
        for error in [r for r in results if isinstance(r, Exception)]:
            log.error("notification work failed; retried next tick", extra={"error": repr(error)})

    async def deliver(self, notification: Notification, now: datetime) -> None:
        """Try every channel that has not accepted the message yet; record the outcome."""
        message = outbound(notification)
        errors: dict[str, str | None] = {}
        permanent = False
        for channel in notification.pending_channels:
            try:
                await self.senders[channel].send(message)
                errors[channel] = None
            except DeliveryError as exc:
                errors[channel] = str(exc)
                permanent = permanent or isinstance(exc, Undeliverable)
        await handlers.record_attempt(self.store, notification, errors, now=now, policy=self.policy, permanent=permanent)

    async def escalate(self, notification: Notification) -> None:
        """Queue the message to the fallback contact and mark the original escalated."""
        original = notification.queued
        assert original is not None
        contacts = handlers.load_contacts(self.store, original.operator_id) if original.operator_id else None
        to = fallback(original.recipient, contacts=contacts, desk=self.desk)
        undeliverable = notification.final_failure
        reason_en = "it could not be delivered" if undeliverable else "it was not acknowledged in time"
        reason_ja = "配信できませんでした" if undeliverable else "期限内に受領確認がありませんでした"
        follow_id = new_id()
        url = ack_url(self.base_url, follow_id)
        subject, body = self.templates.escalation({
            "recipient": to, "original_recipient": original.recipient, "reason_ja": reason_ja, "reason_en": reason_en,
            "ack_url": url, "original_id": notification.id, "original_subject": original.message_subject,
            "original_body": original.message_body,
        })
        channels = channels_of(to)
        follow_up = original.model_copy(update={
            "notification_id": follow_id, "recipient": to, "channel": channels[0], "channels": channels,
            "message_subject": subject, "message_body": body, "escalation_of": notification.id,
            "details": {**original.details, "ack_url": url},
        })
        await handlers.escalate(self.store, notification, follow_up, reason=reason_en)
        log.info("notification escalated", extra={"notification_id": notification.id, "to": to.kind})
