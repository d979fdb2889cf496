"""Commands and reactions of the notification service: contacts, acknowledgements, routing and queueing.

Each decision goes through a repository and is taken by the instance that owns the aggregate's
partition (another instance's raises NotOwner, which the HTTP edge forwards). Answers come from the
saved events, so a retry under the same idempotency key answers the same. Delivery and escalation:
``delivery.py``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Sequence

from shared.domain import Invalid, not_found
from shared.envelope import Envelope
from shared.eventstore import Context, InboxRecord
from shared.events.contact import ContactEvent, ContactRegistered
from shared.events.notification import NotificationAcknowledged
from shared.principal import Principal
from shared.repository import Saved
from services.notification.application import queueing
from services.notification.application.service import NotificationService
from services.notification.domain.commands import QueueNotification
from services.notification.domain.contacts import CONTACT_FIELDS, SetContact
from services.notification.domain.destinations import DestinationRefused
from services.notification.domain.routing import routes_for
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
    if command.webhook_url:
        await _check_destination(service, command.webhook_url)
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


async def _check_destination(service: NotificationService, url: str) -> None:
    """Invalid (422) when the URL leads to an address the policy refuses; a host that does not resolve yet
    is accepted (it is checked again before every delivery)."""
    try:
        await service.destinations.vet(url)
    except DestinationRefused as exc:
        raise Invalid(str(exc)) from None
    except LookupError:
        log.info("a contact webhook host does not resolve yet; it is checked again at delivery")


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
    service.store.require_owner(notification_id)  # the owner decides, and knows the tenant before any version check
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


def route(service: NotificationService, envelope: Envelope) -> list[QueueNotification]:
    """The router's reaction to a committed domain event: one queue command per route of the table.

    The knowledge has applied the event already, so the operators it concerns and the incident and
    connection it names are known as of the event.
    """
    operators = service.knowledge.operators_concerned(envelope)
    incident_id = getattr(envelope.event, "incident_id", None)
    connection_id = getattr(envelope.event, "connection_id", None)
    incident = service.knowledge.incident(incident_id) or ({"id": incident_id} if incident_id else {})
    routes = routes_for(envelope.event, event_id=envelope.id, operators=operators, incident=incident)
    connection = service.knowledge.connection(connection_id) or ({"id": connection_id} if connection_id else {})
    return [QueueNotification.of(r, envelope, incident=incident, connection=connection) for r in routes]


async def queue(service: NotificationService, commands: Sequence[QueueNotification], *, inbox: InboxRecord) -> list[Saved]:
    """Decide one inbox batch of queue commands: each route's key is told once, in some notification.

    A key seen before (a command delivered twice, or a route told before) queues nothing more. A plain
    route queues a notification of its own, on its key's partition; a coalesced one joins its group's
    notice (``queueing.decide``), on its group's partition — this instance's either way. The recipient
    comes from the contacts read model now. The last append carries the inbox offset; a batch that
    queues nothing commits the offset alone. Nothing is awaited between deciding and staging.
    """
    fresh: dict[str, QueueNotification] = {}
    for command in commands:
        if command.key not in fresh and not service.store.seen(command.key):
            fresh[command.key] = command
    if not fresh:
        await service.store.consumed(inbox).committed()
        return []
    decisions = queueing.decide(service, list(fresh.values()))
    staged = [
        service.notifications.stage(
            d.notification, context=d.context, idempotency_key=d.key, markers=d.markers,
            inbox=inbox if n == len(decisions) - 1 else None,
        )
        for n, d in enumerate(decisions)
    ]  # fmt: skip
    saved = [Saved.of(await s.committed()) for s in staged if s is not None]
    for one in saved:
        log.info("notification queued", extra={"notification_id": one.aggregate_id, "events": len(one.envelopes)})
    return saved
