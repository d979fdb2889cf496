"""Notifier and dispatcher over the in-memory event store and recording channels (no broker)."""

from __future__ import annotations

from datetime import timedelta

from tests.services.notification.helpers import DESK, blocked, envelope
from tests.services.notification.notification_support import Clock
from shared.eventstore import Context
from shared.eventstore.memory import InMemoryEventStore
from shared.events.notification import NotificationDelivered, NotificationEscalated, NotificationQueued
from shared.events.values import Actor
from services.notification.adapters.memory import RecordingSender
from services.notification.adapters.templates import Templates
from services.notification.application import handlers
from services.notification.application.dispatcher import Dispatcher
from services.notification.application.notifier import Notifier
from services.notification.domain.contacts import SetContact
from services.notification.domain.model import RetryPolicy

OPERATOR = Actor(kind="person", id="op-user", role="operator")


def parts():
    store = InMemoryEventStore()
    email, webhook, clock = RecordingSender("email"), RecordingSender("webhook"), Clock()
    notifier = Notifier(store, desk=DESK, templates=Templates(), base_url="http://smguard.test")
    dispatcher = Dispatcher(
        store, senders={"email": email, "webhook": webhook}, policy=RetryPolicy(3, 10, 60),
        ack_timeout=timedelta(minutes=30), desk=DESK, templates=Templates(), base_url="http://smguard.test", clock=clock,
    )
    return store, notifier, dispatcher, email, clock


async def register(store, kind, email="si@op.example", operator_id="op-1"):
    command = SetContact(operator_id, kind, "担当者", "中部テック", email, "052-000-0000", None, OPERATOR)
    await handlers.set_contact(store, command, context=Context())


def of_type(store, cls):
    return [e.event for e in store.all() if isinstance(e.event, cls)]


class TestNotifier:
    async def test_a_block_queues_one_notification_to_the_security_incident_contact(self):
        store, notifier, *_ = parts()
        await register(store, "applicant", "app@op.example")
        await register(store, "security_incident")
        await notifier.handle(envelope(blocked("op-1"), "c-1"))
        (queued,) = of_type(store, NotificationQueued)
        assert queued.recipient.email == "si@op.example" and queued.route == "utility_to_operator"

    async def test_the_same_domain_event_twice_queues_nothing_more(self):
        store, notifier, *_ = parts()
        event = envelope(blocked("op-1"), "c-1")
        await notifier.handle(event)
        await notifier.handle(event)
        assert len(of_type(store, NotificationQueued)) == 1

    async def test_a_contact_change_by_the_operator_tells_the_desk(self):
        store, notifier, *_ = parts()
        await register(store, "applicant")
        await notifier.handle(store.load("op-1")[-1])
        (queued,) = of_type(store, NotificationQueued)
        assert queued.recipient == DESK.primary and "si@op.example" in queued.message_body


class TestDispatcher:
    async def test_a_queued_notification_is_sent_once_and_recorded_delivered(self):
        store, notifier, dispatcher, email, _ = parts()
        await register(store, "applicant")
        await notifier.handle(envelope(blocked("op-1", reason="abnormal_communication"), "c-1"))
        await dispatcher.tick()
        await dispatcher.tick()
        assert len(email.sent) == 1 and len(of_type(store, NotificationDelivered)) == 1

    async def test_a_failed_delivery_waits_for_its_back_off_then_succeeds(self):
        store, notifier, dispatcher, email, clock = parts()
        await register(store, "security_incident")
        await notifier.handle(envelope(blocked("op-1"), "c-1"))
        email.failing = "connection refused"
        await dispatcher.tick()
        email.failing = None
        await dispatcher.tick()
        assert email.sent == []
        clock.now += timedelta(seconds=10)
        await dispatcher.tick()
        (queued,) = of_type(store, NotificationQueued)
        notification = handlers.load_notification(store, queued.notification_id)
        assert len(email.sent) == 1 and notification.status == "delivered" and notification.attempts == 2
        assert notification.last_error == "email: connection refused"

    async def test_no_acknowledgement_in_time_escalates_to_the_applicant_contact(self):
        store, notifier, dispatcher, email, clock = parts()
        await register(store, "applicant", "app@op.example")
        await register(store, "security_incident")
        await notifier.handle(envelope(blocked("op-1"), "c-1"))
        await dispatcher.tick()
        clock.now += timedelta(minutes=30)
        await dispatcher.tick()
        await dispatcher.tick()
        (escalated,) = of_type(store, NotificationEscalated)
        assert escalated.escalated_to.email == "app@op.example"
        assert [m.recipient.email for m in email.sent] == ["si@op.example", "app@op.example"]
        assert "エスカレーション / Escalation" in email.sent[1].subject

    async def test_an_acknowledged_notification_does_not_escalate(self):
        store, notifier, dispatcher, email, clock = parts()
        await register(store, "security_incident")
        await notifier.handle(envelope(blocked("op-1"), "c-1"))
        await dispatcher.tick()
        (queued,) = of_type(store, NotificationQueued)
        notification = handlers.load_notification(store, queued.notification_id)
        await handlers.acknowledge(store, notification, by="operator:op-1", context=Context())
        clock.now += timedelta(hours=5)
        await dispatcher.tick()
        assert of_type(store, NotificationEscalated) == [] and len(email.sent) == 1

    async def test_an_operator_without_contacts_is_escalated_to_the_fallback_desk_after_the_last_attempt(self):
        store, notifier, dispatcher, email, clock = parts()
        await notifier.handle(envelope(blocked("op-9"), "c-9"))
        await dispatcher.tick()
        await dispatcher.tick()
        await dispatcher.tick()
        (queued, follow_up) = of_type(store, NotificationQueued)
        assert handlers.load_notification(store, queued.notification_id).attempts == 1
        assert [m.recipient.email for m in email.sent] == [DESK.fallback.email] and follow_up.escalation_of

    async def test_the_desk_not_acknowledging_in_time_escalates_to_the_fallback_desk(self):
        store, notifier, dispatcher, email, clock = parts()
        await register(store, "applicant")
        await notifier.handle(store.load("op-1")[-1])
        await dispatcher.tick()
        clock.now += timedelta(minutes=30)
        await dispatcher.tick()
        await dispatcher.tick()
        assert [m.recipient.email for m in email.sent] == [DESK.primary.email, DESK.fallback.email]
        (original, follow_up) = of_type(store, NotificationQueued)
        assert follow_up.escalation_of == original.notification_id and follow_up.operator_id == "op-1"
