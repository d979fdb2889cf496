"""Commands and reactions over the in-memory event store and recording channels (no broker)."""

from __future__ import annotations

import pytest

from shared.domain import Forbidden, NotFound
from shared.eventstore import ConcurrencyError, Context
from shared.events.contact import ContactChanged, ContactRegistered
from shared.events.notification import NotificationDelivered, NotificationEscalated, NotificationQueued
from shared.events.values import Actor
from shared.principal import Principal
from services.notification.application import handlers
from services.notification.domain.contacts import SetContact
from tests.factories import envelope
from tests.services.notification.helpers import blocked, handler_service

STAFF = Principal(sub="op-user", role="operator", operator_id="op-1")
SOC = Principal(sub="soc", role="utility_soc")


def command(kind: str, email: str = "si@op.example", operator_id: str = "op-1") -> SetContact:
    return SetContact(operator_id, kind, "担当者", "中部テック", email, "052-000-0000", None,
                      Actor(kind="person", id="op-user", role="operator"))  # fmt: skip


async def register(service, kind, email="si@op.example", **options):
    return await handlers.set_contact(service, command(kind, email), principal=STAFF, context=Context(), **options)


def of_type(service, cls):
    return [e.event for e in service.store.all() if isinstance(e.event, cls)]


async def queued_block(service, operator_id="op-1"):
    """A block told to the operator; answers its notification id."""
    (saved,) = await handlers.notify(service, envelope(blocked(operator_id), "c-1"))
    return saved.aggregate_id


class TestSetContact:
    async def test_the_first_put_registers_a_changed_one_changes_and_the_same_again_does_nothing(self):
        service = handler_service()
        first = await register(service, "applicant")
        second = await register(service, "applicant", "new@op.example")
        same = await register(service, "applicant", "new@op.example")
        assert (first.registered, second.registered, same.registered) == (True, False, False)
        assert (first.changed, second.changed, same.changed) == (True, True, False)
        assert (first.version, second.version, same.version) == (1, 2, 2) and same.contact["email"] == "new@op.example"
        assert [type(e) for e in of_type(service, (ContactRegistered, ContactChanged))] == [ContactRegistered, ContactChanged]

    async def test_a_retry_under_the_same_key_answers_as_the_first_call(self):
        service = handler_service()
        first = await register(service, "applicant", idempotency_key="k-1")
        again = await register(service, "applicant", idempotency_key="k-1")
        assert first == again and again.registered and service.store.version("op-1") == 1

    async def test_a_stale_expected_version_is_refused_and_nothing_is_written(self):
        service = handler_service()
        await register(service, "applicant")
        with pytest.raises(ConcurrencyError):
            await register(service, "applicant", "new@op.example", expected_version=0)
        assert (await register(service, "applicant", "new@op.example", expected_version=1)).version == 2

    async def test_another_operators_contacts_are_not_found(self):
        service = handler_service()
        stranger = Principal(sub="x", role="operator", operator_id="op-2")
        with pytest.raises(NotFound):
            await handlers.set_contact(service, command("applicant"), principal=stranger, context=Context())
        assert service.store.version("op-1") == 0


class TestAcknowledge:
    async def test_the_operator_acknowledges_once_and_a_second_time_changes_nothing(self):
        service = handler_service()
        notification_id = await queued_block(service)
        first = await handlers.acknowledge(service, notification_id, principal=STAFF, context=Context())
        again = await handlers.acknowledge(service, notification_id, principal=STAFF, context=Context())
        assert first.acknowledged_by == again.acknowledged_by == "op-user" and first.version == again.version == 2

    async def test_the_other_side_is_forbidden_and_another_tenant_does_not_find_it(self):
        service = handler_service()
        notification_id = await queued_block(service)
        with pytest.raises(Forbidden):
            await handlers.acknowledge(service, notification_id, principal=SOC, context=Context())
        stranger = Principal(sub="x", role="operator", operator_id="op-2")
        with pytest.raises(NotFound):
            await handlers.acknowledge(service, notification_id, principal=stranger, context=Context())
        with pytest.raises(NotFound):
            await handlers.acknowledge(service, "n-unknown", principal=SOC, context=Context())

    async def test_a_stale_expected_version_is_refused(self):
        service = handler_service()
        notification_id = await queued_block(service)
        with pytest.raises(ConcurrencyError):
            await handlers.acknowledge(service, notification_id, principal=STAFF, context=Context(), expected_version=7)


class TestNotify:
    async def test_a_block_queues_one_notification_to_the_security_incident_contact(self):
        service = handler_service()
        await register(service, "applicant", "app@op.example")
        await register(service, "security_incident")
        await handlers.notify(service, envelope(blocked("op-1"), "c-1"))
        (queued,) = of_type(service, NotificationQueued)
        assert queued.recipient.email == "si@op.example" and queued.route == "utility_to_operator"

    async def test_the_same_domain_event_twice_queues_nothing_more_and_answers_the_same_notification(self):
        service = handler_service()
        event = envelope(blocked("op-1"), "c-1")
        (first,) = await handlers.notify(service, event)
        (again,) = await handlers.notify(service, event)
        assert len(of_type(service, NotificationQueued)) == 1
        assert again.replayed and again.aggregate_id == first.aggregate_id

    async def test_a_contact_change_by_the_operator_tells_the_desk(self):
        service = handler_service()
        await register(service, "applicant")
        await handlers.notify(service, service.store.load("op-1")[-1])
        (queued,) = of_type(service, NotificationQueued)
        assert queued.recipient == service.desk.primary and "si@op.example" in queued.message_body


class TestDispatch:
    async def test_a_queued_notification_is_sent_once_and_recorded_delivered(self):
        service = handler_service()
        await register(service, "applicant")
        await handlers.notify(service, envelope(blocked("op-1", reason="abnormal_communication"), "c-1"))
        await handlers.dispatch(service)
        await handlers.dispatch(service)
        assert len(service.senders["email"].sent) == 1 and len(of_type(service, NotificationDelivered)) == 1
        assert service.outstanding.current()  # delivered, still waiting for its acknowledgement

    async def test_a_failed_delivery_waits_for_its_back_off_then_succeeds(self):
        service = handler_service()
        email = service.senders["email"]
        await register(service, "security_incident")
        notification_id = await queued_block(service)
        email.failing = "connection refused"
        await handlers.dispatch(service)
        email.failing = None
        await handlers.dispatch(service)
        assert email.sent == []
        service.clock.advance(seconds=10)
        await handlers.dispatch(service)
        notification = service.notifications.load(notification_id)
        assert len(email.sent) == 1 and notification.status == "delivered" and notification.attempts == 2
        assert notification.last_error == "email: connection refused"

    async def test_no_acknowledgement_in_time_escalates_to_the_applicant_contact(self):
        service = handler_service()
        await register(service, "applicant", "app@op.example")
        await register(service, "security_incident")
        await queued_block(service)
        await handlers.dispatch(service)
        service.clock.advance(minutes=30)
        await handlers.dispatch(service)
        await handlers.dispatch(service)
        (escalated,) = of_type(service, NotificationEscalated)
        sent = service.senders["email"].sent
        assert escalated.escalated_to.email == "app@op.example"
        assert [m.recipient.email for m in sent] == ["si@op.example", "app@op.example"]
        assert "エスカレーション / Escalation" in sent[1].subject
        assert service.outstanding.current() == []  # the original escalated, the escalation delivered: both settled

    async def test_an_escalation_retried_after_a_crash_queues_no_second_message(self):
        service = handler_service()
        await register(service, "security_incident")
        notification_id = await queued_block(service)
        await handlers.dispatch(service)
        first = await handlers.escalate(service, notification_id)
        again = await handlers.escalate(service, notification_id)
        assert again.replayed and again.envelopes == first.envelopes
        assert len(of_type(service, NotificationQueued)) == 2 and len(of_type(service, NotificationEscalated)) == 1

    async def test_an_acknowledged_notification_does_not_escalate(self):
        service = handler_service()
        await register(service, "security_incident")
        notification_id = await queued_block(service)
        await handlers.dispatch(service)
        await handlers.acknowledge(service, notification_id, principal=STAFF, context=Context())
        service.clock.advance(hours=5)
        await handlers.dispatch(service)
        assert of_type(service, NotificationEscalated) == [] and len(service.senders["email"].sent) == 1
        assert service.outstanding.current() == []

    async def test_an_operator_without_contacts_is_escalated_to_the_fallback_desk_after_the_last_attempt(self):
        service = handler_service()
        await handlers.notify(service, envelope(blocked("op-9"), "c-9"))
        for _ in range(3):
            await handlers.dispatch(service)
        (queued, follow_up) = of_type(service, NotificationQueued)
        assert service.notifications.load(queued.notification_id).attempts == 1
        assert [m.recipient.email for m in service.senders["email"].sent] == [service.desk.fallback.email]
        assert follow_up.escalation_of == queued.notification_id

    async def test_the_desk_not_acknowledging_in_time_escalates_to_the_fallback_desk(self):
        service = handler_service()
        await register(service, "applicant")
        await handlers.notify(service, service.store.load("op-1")[-1])
        await handlers.dispatch(service)
        service.clock.advance(minutes=30)
        await handlers.dispatch(service)
        await handlers.dispatch(service)
        assert [m.recipient.email for m in service.senders["email"].sent] == [service.desk.primary.email, service.desk.fallback.email]
        (original, follow_up) = of_type(service, NotificationQueued)
        assert follow_up.escalation_of == original.notification_id and follow_up.operator_id == "op-1"
