"""Commands, the router's reaction and the inbox decision over the in-memory store (no broker); dispatch: test_dispatch."""

from __future__ import annotations

import pytest

from shared.domain import Forbidden, NotFound
from shared.eventstore import ConcurrencyError, Context
from shared.events.contact import ContactChanged, ContactRegistered
from shared.events.notification import NotificationQueued
from shared.principal import Principal
from services.notification.application import handlers
from tests.factories import connection_registered, envelope, incident_opened
from tests.services.notification.helpers import (
    STAFF, blocked, command, handler_service, inbox_record, notify, of_type, queued_block, register, report,
)

SOC = Principal(sub="soc", role="utility_soc")


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
        assert first == again and again.registered and service.contacts.load("op-1").version == 1

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
        assert service.store.snapshot("op-1") is None


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


class TestRoute:
    async def test_a_block_is_one_command_for_the_connections_operator_with_what_is_known_of_the_connection(self):
        service, event = handler_service(), blocked("op-1")
        await service.knowledge.apply(envelope(connection_registered(event.connection_id, "op-1"), event.connection_id), resume_at=0)
        told = envelope(event, event.connection_id)
        (queue,) = handlers.route(service, told)
        assert queue.key == f"notify:{told.id}:operator:op-1" and (queue.target, queue.operator_id) == ("operator", "op-1")
        assert queue.connection["maker"] == "東海計器" and queue.incident == {"id": event.incident_id}

    async def test_a_report_names_no_operator_and_goes_by_the_operators_the_knowledge_has_for_its_incident(self):
        service = handler_service()
        await service.knowledge.apply(envelope(incident_opened("inc-1", "op-1", operator_ids=["op-1", "op-2"]), "inc-1"), resume_at=0)
        commands = handlers.route(service, envelope(report("inc-1", direction="utility_to_operator"), "inc-1"))
        assert [c.operator_id for c in commands] == ["op-1", "op-2"] and commands[0].incident["title"] == "不正アクセスの疑い"

    async def test_an_event_no_rule_names_is_no_command(self):
        service = handler_service()
        assert handlers.route(service, envelope(incident_opened("inc-1", "op-1", origin="vulnerability"), "inc-1")) == []


class TestQueue:
    async def test_a_block_queues_one_notification_to_the_security_incident_contact(self):
        service = handler_service()
        await register(service, "applicant", "app@op.example")
        await register(service, "security_incident")
        await notify(service, envelope(blocked("op-1"), "c-1"))
        (queued,) = of_type(service, NotificationQueued)
        assert queued.recipient.email == "si@op.example" and queued.route == "utility_to_operator"

    async def test_a_queue_command_delivered_twice_queues_once_and_the_second_record_is_consumed_alone(self):
        service = handler_service()
        await register(service, "security_incident")
        commands = handlers.route(service, envelope(blocked("op-1"), "c-1"))
        first, second = inbox_record(service), None
        (saved,) = await handlers.queue(service, commands, inbox=first)
        second = inbox_record(service)
        assert await handlers.queue(service, commands, inbox=second) == []
        assert await handlers.queue(service, commands * 2, inbox=inbox_record(service)) == []
        assert len(of_type(service, NotificationQueued)) == 1 and saved.envelopes[0].idempotency_key == commands[0].key
        assert service.store.consumed_records[:2] == [first, second]

    async def test_one_batch_with_the_same_command_twice_queues_once_and_its_last_append_carries_the_offset(self):
        service = handler_service()
        commands = handlers.route(service, envelope(blocked("op-1"), "c-1")) + handlers.route(service, envelope(blocked("op-2"), "c-2"))
        record = inbox_record(service)
        saved = await handlers.queue(service, [commands[0], *commands], inbox=record)
        assert [s.envelopes[0].event.operator_id for s in saved] == ["op-1", "op-2"]
        assert service.store.consumed_records == [record]

    async def test_the_same_domain_event_twice_queues_nothing_more(self):
        service = handler_service()
        event = envelope(blocked("op-1"), "c-1")
        (first,) = await notify(service, event)
        assert await notify(service, event) == []
        assert len(of_type(service, NotificationQueued)) == 1 and first.aggregate_id

    async def test_a_contact_change_by_the_operator_tells_the_desk(self):
        service = handler_service()
        await register(service, "applicant")
        await notify(service, service.store.published[-1])
        (queued,) = of_type(service, NotificationQueued)
        assert queued.recipient == service.desk.primary and "si@op.example" in queued.message_body
