"""The router on a real broker: it routes committed events only, once each, to the owner of each route's key
(a coalesced route's: its group's)."""

from __future__ import annotations

import uuid


from shared.kafka import clients
from shared import topics
from shared.envelope import Envelope, encode, kafka_headers
from shared.kafka.admin import ensure_topics
from shared.kafka.commands import CommandSender
from services.notification.application import handlers
from services.notification.bootstrap import build_app
from services.notification.domain.commands import command_record
from tests.factories import envelope, eventually, serving, uid
from tests.services.notification.helpers import block, blocked, notifications, put_contact


async def aborted_block(settings, operator: str) -> str:
    """A block written in a transaction that is then aborted (as a writer fenced in a rebalance leaves it)."""
    event = blocked(operator)
    message = encode(Envelope(event=event, subject=event.connection_id, sequence=1, source="smguard/stand-in", operator_id=operator))
    producer = clients.producer(settings, transactional_id=f"{settings.topic_prefix}aborting.{uuid.uuid4().hex[:6]}"
    )
    await ensure_topics(settings)
    await producer.start()
    try:
        await producer.begin_transaction()
        await producer.send_and_wait(settings.topic(topics.CONNECTION_EVENTS), message.value, key=message.key, headers=kafka_headers(message))
        await producer.abort_transaction()
    finally:
        await producer.stop()
    return event.connection_id


class TestRouter:
    async def test_an_aborted_event_is_not_routed_and_the_committed_one_after_it_is(self, settings, config, smtp, clock):
        operator = uid("op")
        app = build_app(settings, config=config, clock=clock)
        async with serving(app) as client:
            await put_contact(client, settings, operator, "security_incident", "soc@op.example")
            never = await aborted_block(settings, operator)
            committed = await block(settings, operator)
            # the router's agent reads committed records only: the contact and the committed block
            await eventually(lambda: app.state.router.handled == 2 and app.state.inbox.handled == 2, what="all routed")
            told = await eventually(lambda: _count(notifications(client, settings, operator_id=operator), 1), what="told")
        assert [n["domain_event"]["subject"] for n in told] == [committed.connection_id]
        assert [m for m in smtp.mailbox.to("soc@op.example") if never in m.get_content()] == []

    async def test_each_notice_lives_on_the_partition_of_its_group_and_each_route_key_is_seen(self, settings, config, smtp, clock):
        operator = uid("op")
        app = build_app(settings, config=config, clock=clock)
        async with serving(app) as client:
            await put_contact(client, settings, operator, "security_incident", "soc@op.example")
            events = [await block(settings, operator) for _ in range(4)]
            told = await eventually(lambda: _count(notifications(client, settings, operator_id=operator), 4), what="queued")
            store = app.state.runtime.store
            keys = [f"notify:{n['domain_event']['id']}:operator:{operator}" for n in told]
            assert all(store.seen(key) for key in keys)
        assert {n["domain_event"]["subject"] for n in told} == {e.connection_id for e in events}
        assert all(store.partition_of(n["id"]) == store.partition_of(n["group"]) for n in told)


class TestInbox:
    async def test_a_queue_command_delivered_twice_queues_once(self, settings, config, smtp, clock):
        operator = uid("op")
        app = build_app(settings, config=config, clock=clock)
        async with serving(app) as client:
            await put_contact(client, settings, operator, "security_incident", "soc@op.example")  # delivered, then unsettled
            await eventually(lambda: app.state.inbox.handled == 1, what="the contact's notice decided")
            told = envelope(blocked(operator), uid("conn"))
            (command,) = handlers.route(app.state.service, told)
            sender = CommandSender(settings)
            await sender.start()
            try:
                await sender.send_many(topics.NOTIFICATION_COMMANDS, [(command.partition_key, command_record(command))] * 2)
                await eventually(lambda: app.state.inbox.handled == 3, what="both records decided")
                await sender.send(topics.NOTIFICATION_COMMANDS, command.partition_key, command_record(command))  # later, once more
            finally:
                await sender.stop()
            await eventually(lambda: app.state.inbox.handled == 4, what="the third record decided")
            store = app.state.runtime.store
            queued = [i for i in store.find("unsettled", "1") if store.snapshot(i).state["queued"]["domain_event_id"] == told.id]
            (listed,) = await eventually(lambda: _of(told.id, notifications(client, settings, operator_id=operator)), what="listed")
        assert queued == [listed["id"]] and store.partition_of(listed["id"]) == store.partition_of(command.partition_key)
        assert listed["member_count"] == 1


async def _of(event_id: str, items) -> list[dict]:
    return [n for n in await items if n["domain_event"]["id"] == event_id]


async def _count(items, count: int) -> list[dict]:
    found = [n for n in await items if n["domain_event"]["type"] == "ConnectionBlocked"]
    return found if len(found) == count else []
