"""The dispatcher over the in-memory store: deliveries, back-off, escalations, its work found by the ``unsettled`` index."""

from __future__ import annotations

from shared.eventstore import Context
from shared.events.notification import NotificationDelivered, NotificationEscalated, NotificationQueued
from shared.principal import Principal
from services.notification.application import delivery, handlers
from tests.factories import envelope
from tests.services.notification.helpers import STAFF, blocked, handler_service, notify, of_type, queued_block, register


def unsettled(service) -> list[str]:
    return service.store.find("unsettled", "1", committed=True)


class TestDispatch:
    async def test_a_queued_notification_is_sent_once_and_recorded_delivered(self):
        service = handler_service()
        await register(service, "applicant")
        await notify(service, envelope(blocked("op-1", reason="abnormal_communication"), "c-1"))
        await delivery.dispatch(service)
        await delivery.dispatch(service)
        assert len(service.senders["email"].sent) == 1 and len(of_type(service, NotificationDelivered)) == 1
        assert unsettled(service)  # delivered, still waiting for its acknowledgement

    async def test_the_dispatcher_finds_its_work_by_the_unsettled_index(self):
        service = handler_service()
        await register(service, "security_incident")
        kept, acked = await queued_block(service), await queued_block(service, "op-2")
        await handlers.acknowledge(service, acked, principal=Principal(sub="x", role="operator", operator_id="op-2"), context=Context())
        assert kept in unsettled(service) and acked not in unsettled(service)

    async def test_a_failed_delivery_waits_for_its_back_off_then_succeeds(self):
        service = handler_service()
        email = service.senders["email"]
        await register(service, "security_incident")
        notification_id = await queued_block(service)
        email.failing = "connection refused"
        await delivery.dispatch(service)
        email.failing = None
        await delivery.dispatch(service)
        assert email.sent == []
        service.clock.advance(seconds=10)
        await delivery.dispatch(service)
        notification = service.notifications.load(notification_id)
        assert len(email.sent) == 1 and notification.status == "delivered" and notification.attempts == 2
        assert notification.last_error == "email: connection refused"


class TestEscalate:
    async def test_no_acknowledgement_in_time_escalates_to_the_applicant_contact(self):
        service = handler_service()
        await register(service, "applicant", "app@op.example")
        await register(service, "security_incident")
        await queued_block(service)
        await delivery.dispatch(service)
        service.clock.advance(minutes=30)
        await delivery.dispatch(service)
        await delivery.dispatch(service)
        (escalated,) = of_type(service, NotificationEscalated)
        sent = service.senders["email"].sent
        assert escalated.escalated_to.email == "app@op.example"
        assert [m.recipient.email for m in sent] == ["si@op.example", "app@op.example"]
        assert "エスカレーション / Escalation" in sent[1].subject
        assert unsettled(service) == []  # the original escalated, the escalation delivered: both settled

    async def test_an_escalation_retried_after_a_crash_queues_no_second_message(self):
        service = handler_service()
        await register(service, "security_incident")
        notification_id = await queued_block(service)
        await delivery.dispatch(service)
        first = await delivery.escalate(service, notification_id)
        again = await delivery.escalate(service, notification_id)
        assert again.replayed and again.envelopes == first.envelopes
        assert len(of_type(service, NotificationQueued)) == 2 and len(of_type(service, NotificationEscalated)) == 1

    async def test_the_escalation_lives_on_the_originals_partition(self):
        service = handler_service()
        await register(service, "security_incident")
        notification_id = await queued_block(service)
        await delivery.escalate(service, notification_id)
        (_, follow_up) = of_type(service, NotificationQueued)
        assert follow_up.escalation_of == notification_id and service.store.seen(f"escalate:{notification_id}")

    async def test_an_acknowledged_notification_does_not_escalate(self):
        service = handler_service()
        await register(service, "security_incident")
        notification_id = await queued_block(service)
        await delivery.dispatch(service)
        await handlers.acknowledge(service, notification_id, principal=STAFF, context=Context())
        service.clock.advance(hours=5)
        await delivery.dispatch(service)
        assert of_type(service, NotificationEscalated) == [] and len(service.senders["email"].sent) == 1
        assert unsettled(service) == []

    async def test_an_operator_without_contacts_is_escalated_to_the_fallback_desk_after_the_last_attempt(self):
        service = handler_service()
        await notify(service, envelope(blocked("op-9"), "c-9"))
        for _ in range(3):
            await delivery.dispatch(service)
        (queued, follow_up) = of_type(service, NotificationQueued)
        assert service.notifications.load(queued.notification_id).attempts == 1
        assert [m.recipient.email for m in service.senders["email"].sent] == [service.desk.fallback.email]
        assert follow_up.escalation_of == queued.notification_id

    async def test_the_desk_not_acknowledging_in_time_escalates_to_the_fallback_desk(self):
        service = handler_service()
        await register(service, "applicant")
        await notify(service, service.store.published[-1])
        await delivery.dispatch(service)
        service.clock.advance(minutes=30)
        await delivery.dispatch(service)
        await delivery.dispatch(service)
        assert [m.recipient.email for m in service.senders["email"].sent] == [service.desk.primary.email, service.desk.fallback.email]
        (original, follow_up) = of_type(service, NotificationQueued)
        assert follow_up.escalation_of == original.notification_id and follow_up.operator_id == "op-1"
