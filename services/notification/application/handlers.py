"""Commands and reactions of the notification service: each loads, decides and appends through a repository.

Answers come from the saved events, so a retry under the same idempotency key answers the same.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Mapping

from shared.domain import not_found
from shared.envelope import Envelope
from shared.eventstore import Context
from shared.events.contact import ContactEvent, ContactRegistered
from shared.events.notification import NotificationAcknowledged, NotificationQueued
from shared.principal import Principal
from shared.repository import Saved
from services.notification.application import compose
from services.notification.application.ports import DeliveryError, Sender, Undeliverable
from services.notification.application.service import NotificationService
from services.notification.domain.contacts import CONTACT_FIELDS, SetContact
from services.notification.domain.model import Notification
from services.notification.domain.recipients import fallback, primary
from services.notification.domain.routing import Route, routes_for
from services.notification.projections import knowledge

SYSTEM_ACTOR = "system:notification"
MAX_CONCURRENT = 8  # deliveries worked on side by side in one tick
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ContactSet:
    """A contact as a PUT left it: ``registered`` the first time, ``changed`` when an event was appended."""

    contact: dict[str, str | None]
    registered: bool
    changed: bool
    version: int


@dataclass(frozen=True, slots=True)
class Acknowledged:
    """By whom a notification was acknowledged, and its version now."""

    acknowledged_by: str | None
    version: int


async def set_contact(
    service: NotificationService,
    command: SetContact,
    *,
    principal: Principal,
    context: Context,
    expected_version: int | None = None,
    idempotency_key: str | None = None,
) -> ContactSet:
    """Register or change one contact of an operator (another tenant's: not found); the same again changes nothing."""
    principal.require_operator(command.operator_id)

    saved = await service.contacts.change(
        command.operator_id, lambda contacts: contacts.set_contact(command), context=context,
        expected_version=expected_version, idempotency_key=idempotency_key, or_create=True,
    )  # fmt: skip
    event = saved.first(ContactEvent)
    if event is None:
        contact = service.contacts.load(command.operator_id).get(command.kind) or {}
    else:
        contact = {name: getattr(event, name) for name in CONTACT_FIELDS}
    registered = isinstance(event, ContactRegistered)
    return ContactSet(contact, registered, event is not None, saved.version)


async def acknowledge(
    service: NotificationService,
    notification_id: str,
    *,
    principal: Principal,
    context: Context,
    expected_version: int | None = None,
    idempotency_key: str | None = None,
) -> Acknowledged:
    """The receiving side acknowledges (another tenant's: not found; the other side: forbidden); once only."""
    operator_id = service.notifications.get(notification_id).operator_id
    if not principal.may_see_operator(operator_id):
        raise not_found("notification", notification_id)
    saved = await service.notifications.change(
        notification_id, lambda n: n.acknowledge(principal), context=replace(context, operator_id=operator_id),
        expected_version=expected_version, idempotency_key=idempotency_key,
    )  # fmt: skip
    event = saved.first(NotificationAcknowledged)
    by = event.acknowledged_by if event else service.notifications.load(notification_id).acknowledged_by
    return Acknowledged(by, saved.version)


async def notify(service: NotificationService, envelope: Envelope) -> list[Saved]:
    """React to a domain event: learn from it, then queue each notification the routing table calls for."""
    knowledge.apply(service.knowledge, envelope)
    operators = knowledge.operators_concerned(service.knowledge, envelope)
    routes = routes_for(envelope.event, event_id=envelope.id, operators=operators)
    return [await queue(service, envelope, route) for route in routes]


async def queue(service: NotificationService, envelope: Envelope, route: Route) -> Saved:
    """Queue what one route calls for, to the recipient the contacts give now; the route's key makes it once."""

    def make() -> Notification:
        contacts = service.contacts.load(route.operator_id) if route.operator_id else None
        recipient = primary(route.target, operator_id=route.operator_id, contacts=contacts, desk=service.desk)
        return Notification.queue(compose.notification(service, envelope, route, recipient))

    context = Context(
        actor=SYSTEM_ACTOR, operator_id=route.operator_id, correlation_id=envelope.correlation_id, causation_id=envelope.id
    )
    saved = await service.notifications.create(make, context=context, idempotency_key=route.idempotency_key)
    if not saved.replayed:
        log.info("notification queued", extra={"notification_id": saved.aggregate_id, "event_id": envelope.id})
    return saved


async def dispatch(service: NotificationService) -> None:
    """The periodic tick: deliver what is due, escalate what waited too long, a few notifications side by side."""
    now = service.clock()
    limit = asyncio.Semaphore(MAX_CONCURRENT)

    async def work(notification: Notification) -> None:
        async with limit:
            if notification.due_for_delivery(now):
                await deliver(service, notification.id, now=now)
            elif notification.due_for_escalation(now, ack_timeout=service.ack_timeout):
                await escalate(service, notification.id)

    results = await asyncio.gather(*(work(n) for n in service.outstanding.current()), return_exceptions=True)
    for error in [r for r in results if isinstance(r, Exception)]:
        log.error("notification work failed; retried next tick", extra={"error": repr(error)})


async def deliver(service: NotificationService, notification_id: str, *, now: datetime) -> Saved:
    """Try every channel that has not accepted the message yet, then record what each answered.

    The outcome is recorded whatever happened to the notification meanwhile (an acknowledgement may
    arrive while a channel is still sending): what went out is a fact the audit trail keeps.
    """
    notification = service.notifications.get(notification_id)
    errors, permanent = await _send(service.senders, notification)
    return await service.notifications.change(
        notification_id,
        lambda n: n.record_attempt(errors, now=now, policy=service.policy, permanent=permanent),
        context=Context(actor=SYSTEM_ACTOR, operator_id=notification.operator_id),
        idempotency_key=f"attempt:{notification_id}:{notification.attempts + 1}",
    )


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
    """Queue the message to the fallback contact, then mark the original escalated (each once, by its key)."""
    original = service.notifications.get(notification_id)
    assert original.queued is not None
    contacts = service.contacts.load(original.operator_id) if original.operator_id else None
    to = fallback(original.queued.recipient, contacts=contacts, desk=service.desk)
    context = Context(actor=SYSTEM_ACTOR, operator_id=original.operator_id, causation_id=notification_id)
    first = await service.notifications.create(
        lambda: Notification.queue(compose.escalation(service, original, to)), context=context,
        idempotency_key=f"escalate:{notification_id}",
    )  # fmt: skip
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
