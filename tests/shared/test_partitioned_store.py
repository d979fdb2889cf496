"""The partitioned event store on a real broker: snapshots restored not replayed, owners, fencing, the inbox."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared.kafka import clients
from shared.config import Settings
from shared.eventstore import InboxRecord, NotOwner, WriterFenced
from shared.eventstore.kafka import KafkaEventStore
from shared.eventstore.writer import PartitionWriter
from shared.kafka.admin import ensure_topics
from shared.repository import Repository
from shared.topics import INCIDENT_EVENTS, INCIDENT_STATE, SENSOR_ANOMALIES
from tests.factories import eventually
from tests.shared.cases import CTX, Case, opened_case, open_cases

pytestmark = pytest.mark.integration
class TestSnapshots:
    async def test_a_restart_restores_from_the_local_store_without_folding_events(self, stores) -> None:
        store = await stores()
        [case] = await open_cases(store, 1)
        await Repository(store, Case, name="case").change(case, lambda c: c.mark("initial"), context=CTX)
        await store.stop()
        again = await stores()
        assert again.restored_events == 0
        assert Repository(again, Case, name="case").get(case).overdue == ["initial"]

    async def test_without_the_local_store_the_changelog_restores_it(self, stores, tmp_path) -> None:
        store = await stores()
        cases = await open_cases(store, 5)
        await store.stop()
        (tmp_path / "state-0.sqlite").unlink()
        again = await stores()
        assert again.restored_events == 0 and all(Repository(again, Case, name="case").get(c).opened for c in cases)

    async def test_snapshots_are_a_cache_deleted_changelog_and_store_are_rebuilt_from_the_events(
        self, stores, settings, tmp_path
    ) -> None:
        store = await stores()
        cases = await open_cases(store, 4)
        await Repository(store, Case, name="case").change(cases[0], lambda c: c.mark("cause"), context=CTX)
        await store.stop()
        await _recreate(settings, INCIDENT_STATE)
        (tmp_path / "state-0.sqlite").unlink()
        rebuilt = await stores()
        assert rebuilt.restored_events == 5
        assert Repository(rebuilt, Case, name="case").get(cases[0]).overdue == ["cause"]
        assert rebuilt.find("overdue", "cause") == [cases[0]]
        assert rebuilt.seen(f"overdue:{cases[0]}:cause")  # a marker is rebuilt from its event too
        await rebuilt.stop()
        (tmp_path / "state-0.sqlite").unlink()
        assert (await stores()).restored_events == 0  # the rebuilt snapshots were written back

    async def test_an_idempotency_key_answers_the_first_call_after_a_restart(self, stores) -> None:
        store = await stores()
        first = await Repository(store, Case, name="case").create(opened_case, context=CTX, idempotency_key="k-1")
        await store.stop()
        again = await stores()
        retried = await Repository(again, Case, name="case").create(opened_case, context=CTX, idempotency_key="k-1")
        assert retried.replayed and retried.aggregate_id == first.aggregate_id


class TestOwners:
    async def test_two_instances_share_the_partitions_and_name_each_others_address(self, stores, settings) -> None:
        first = await stores(0)
        second = await stores(1)
        await eventually(lambda: first.owned and second.owned and not first.ownership.rebalancing, what="both own")
        assert first.owned | second.owned == set(range(settings.topic_partitions)) and not first.owned & second.owned
        foreign = second.new_id()
        with pytest.raises(NotOwner) as elsewhere:
            first.require_owner(foreign)
        assert elsewhere.value.owner == "http://127.0.0.1:9001"

    async def test_when_one_leaves_the_other_owns_everything_and_sees_what_it_wrote(self, stores, settings) -> None:
        first = await stores(0)
        second = await stores(1)
        await eventually(lambda: second.owned, what="the second owns a partition")
        [case] = await open_cases(second, 1)
        await second.stop()
        await eventually(lambda: first.owned == set(range(settings.topic_partitions)) and first.ready, what="taken over")
        assert Repository(first, Case, name="case").get(case).opened

    async def test_a_writer_whose_partition_was_taken_over_is_fenced(self, stores, settings) -> None:
        store = await stores()
        [case] = await open_cases(store, 1)
        k = store.partition_of(case)
        newer = PartitionWriter(
            kafka=clients.access(settings), transactional_id=f"{settings.topic_prefix}store-test.writer.p{k}",
            partition=k, topics={INCIDENT_EVENTS: settings.topic(INCIDENT_EVENTS)}, changelog=settings.topic(INCIDENT_STATE),
            group_id=None, committed=lambda *_: None, failed=lambda *_: None,
        )  # fmt: skip
        await newer.start()
        try:
            with pytest.raises(WriterFenced):
                await Repository(store, Case, name="case").change(case, lambda c: c.mark("initial"), context=CTX)
        finally:
            await newer.stop()


    async def test_while_a_fenced_writer_is_replaced_an_append_is_refused_as_not_owner(self, stores, settings) -> None:
        store = await stores()
        [case] = await open_cases(store, 1)
        k = store.partition_of(case)
        fenced, stopping, release = store.writers[k], asyncio.Event(), asyncio.Event()
        fenced.fenced = True  # as after a newer owner's transaction
        stop = fenced.stop

        async def slow_stop() -> None:  # the replacement is under way until the test releases it
            stopping.set()
            await release.wait()
            await stop()

        fenced.stop = slow_stop  # type: ignore[method-assign]
        replacing = asyncio.create_task(store._assigned(set(store.owned)))
        await stopping.wait()
        with pytest.raises(NotOwner):  # the service answers 503 (never a KeyError, a 500)
            await Repository(store, Case, name="case").change(case, lambda c: c.mark("initial"), context=CTX)
        release.set()
        assert k in await replacing  # served again by a new writer
        saved = await Repository(store, Case, name="case").change(case, lambda c: c.mark("initial"), context=CTX)
        assert saved.version == 2


class TestInbox:
    async def test_an_inbox_offset_commits_with_the_decision(self, stores, settings) -> None:
        store = await stores(poll=False)
        await _produce(settings, [b"one", b"two"])
        records = await eventually(lambda: _owned_records(store), what="the inbox records")
        last = records[-1]
        [case] = await open_cases(store, 1)
        repo = Repository(store, Case, name="case")
        aggregate = repo.get(case)
        aggregate.mark("initial")
        if store.partition_of(case) == last.partition:
            await repo.stage(aggregate, context=CTX, inbox=InboxRecord(last.topic, last.partition, last.offset)).committed()
        else:
            await repo.stage(aggregate, context=CTX).committed()
            await store.consumed(InboxRecord(last.topic, last.partition, last.offset)).committed()
        consumer, tp = store.ownership.consumer, TopicPartition(last.topic, last.partition)
        assert consumer is not None
        # the group sees a transaction's offsets once its markers are written, just after the commit
        await eventually(lambda: _is(consumer.committed(tp), last.offset + 1), what="the offset committed")


async def _is(value, expected) -> bool:  # type: ignore[no-untyped-def]
    return await value == expected


async def _owned_records(store: KafkaEventStore) -> list:
    fetched = await store.ownership.records()
    return [r for records in fetched.values() for r in records]


async def _produce(settings: Settings, values: list[bytes]) -> None:
    producer = clients.producer(settings)
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(settings.topic(SENSOR_ANOMALIES), value, key=b"conn-1")
    finally:
        await producer.stop()


async def _recreate(settings: Settings, base: str) -> None:
    admin = clients.admin(settings)
    await admin.start()
    try:
        await admin.delete_topics([settings.topic(base)])
        await eventually(lambda: _gone(admin, settings.topic(base)), what="the changelog is gone")
    finally:
        await admin.close()
    await ensure_topics(settings)


async def _gone(admin: AIOKafkaAdminClient, name: str) -> bool:
    return name not in await admin.list_topics()
