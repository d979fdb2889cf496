"""The Kafka event store against a real broker: append, load, versions, idempotency, fencing."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiokafka import AIOKafkaConsumer

from shared.config import Settings
from shared.eventstore import ConcurrencyError, Context, StoreUnavailable, WriterFenced
from shared.eventstore.follow import Follower
from shared.kafka.reader import assign_all, read_to_end
from shared.topics import INCIDENT_EVENTS
from tests.factories import eventually, incident_opened, report_overdue, uid

pytestmark = pytest.mark.integration


async def raw_records(settings: Settings) -> list[dict]:
    """Every record of the incident topic as plain JSON, the way a SOC consumer reads it."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers, isolation_level="read_committed")
    await consumer.start()
    try:
        partitions = await assign_all(consumer, [settings.topic(INCIDENT_EVENTS)])
        await consumer.seek_to_beginning(*partitions)
        rows = []
        async for batch in read_to_end(consumer, partitions):
            rows.extend({"key": r.key, "partition": r.partition, **json.loads(r.value)} for r in batch)
        return rows
    finally:
        await consumer.stop()


class TestAppendAndLoad:
    async def test_appended_events_are_loaded_back_by_a_fresh_store_in_order(self, make_store, settings) -> None:
        incident = uid("inc")
        writer = await make_store()
        await writer.append(incident, [incident_opened(incident), report_overdue(incident)], context=Context(actor="soc-alice"))
        await writer.stop()
        reader = await make_store()
        loaded = reader.load(incident)
        assert [e.type for e in loaded] == ["IncidentOpened", "ReportOverdue"]
        assert [e.sequence for e in loaded] == [1, 2]
        assert loaded[0].actor == "soc-alice"
        assert loaded[0].event.title == "不正アクセスの疑い"

    async def test_one_aggregates_events_stay_in_order_on_one_partition(self, make_store, settings) -> None:
        store = await make_store()
        incident = uid("inc")
        await store.append(incident, [incident_opened(incident)])
        for _ in range(30):
            await store.append(incident, [report_overdue(incident)])
        mine = [r for r in await raw_records(settings) if r["subject"] == incident]
        assert [r["sequence"] for r in mine] == list(range(1, 32))
        assert {r["partition"] for r in mine} == {mine[0]["partition"]}
        assert {r["key"] for r in mine} == {incident.encode()}


class TestExpectedVersion:
    async def test_two_concurrent_writers_on_one_aggregate_exactly_one_wins(self, make_store) -> None:
        store = await make_store()
        incident = uid("inc")
        await store.append(incident, [incident_opened(incident)])
        results = await asyncio.gather(
            *[store.append(incident, [report_overdue(incident)], expected_version=1) for _ in range(5)],
            return_exceptions=True,
        )
        assert sum(not isinstance(r, Exception) for r in results) == 1
        assert all(isinstance(r, ConcurrencyError) for r in results if isinstance(r, Exception))
        assert store.version(incident) == 2

    async def test_a_stale_expected_version_is_refused_and_appends_nothing(self, make_store) -> None:
        store = await make_store()
        incident = uid("inc")
        await store.append(incident, [incident_opened(incident)])
        with pytest.raises(ConcurrencyError):
            await store.append(incident, [report_overdue(incident)], expected_version=0)
        assert store.version(incident) == 1


class TestIdempotencyKey:
    async def test_a_retry_gets_the_first_answer_and_no_second_event_even_after_a_restart(
        self, make_store, settings
    ) -> None:
        incident = uid("inc")
        store = await make_store()
        first = await store.append(incident, [incident_opened(incident)], idempotency_key="req-1")
        again = await store.append(incident, [incident_opened(incident)], idempotency_key="req-1")
        await store.stop()
        restarted = await make_store()
        after_restart = await restarted.append(incident, [incident_opened(incident)], idempotency_key="req-1")
        assert again.replayed and after_restart.replayed
        assert again.envelopes[0].id == first.envelopes[0].id == after_restart.envelopes[0].id
        assert len([r for r in await raw_records(settings) if r["subject"] == incident]) == 1


class TestFencing:
    async def test_a_writer_replaced_by_a_newer_one_cannot_append(self, make_store, settings) -> None:
        incident = uid("inc")
        old = await make_store("same-writer")
        await old.append(incident, [incident_opened(incident)])
        new = await make_store("same-writer")
        with pytest.raises(WriterFenced):
            await old.append(incident, [report_overdue(incident)])
        await new.append(incident, [report_overdue(incident)], expected_version=1)
        assert [r["sequence"] for r in await raw_records(settings) if r["subject"] == incident] == [1, 2]


class TestPositions:
    async def test_events_written_by_this_process_know_where_they_landed_once_committed(self, make_store) -> None:
        store = await make_store()
        incident = uid("inc")
        result = await store.append(incident, [incident_opened(incident), report_overdue(incident)])
        loaded = store.load(incident)
        assert [e.position for e in loaded] == [e.position for e in result.envelopes]
        assert all(e.position is not None for e in loaded)
        assert loaded[1].position.offset == loaded[0].position.offset + 1


class TestStaging:
    async def test_staged_events_are_part_of_the_stream_before_their_commit(self, make_store) -> None:
        store = await make_store()
        incident = uid("inc")
        staged = store.stage(incident, [incident_opened(incident)])
        assert store.version(incident) == 1 and store.in_flight == 1
        result = await staged.committed()
        assert result.envelopes[0].position is not None and store.in_flight == 0

    async def test_a_commit_the_broker_refuses_leaves_no_staged_event_and_followers_start_over(
        self, make_store, settings
    ) -> None:
        store = await make_store()
        kept, refused = uid("inc"), uid("inc")
        await store.append(kept, [incident_opened(kept)])
        folded: list[str] = []
        follower = Follower(store, fold=lambda e: folded.append(e.subject), reset=folded.clear)
        too_large = incident_opened(refused, description="x" * 2_000_000)  # past the broker's message.max.bytes
        staged = store.stage(refused, [too_large])
        follower.catch_up()
        assert folded == [kept, refused]
        with pytest.raises(StoreUnavailable):
            await staged.committed()
        await eventually(lambda: store.ready, what="the store reads its topics again")
        follower.catch_up()
        assert folded == [kept] and store.version(refused) == 0
        await store.append(refused, [incident_opened(refused)])  # and it appends again
        assert [r["subject"] for r in await raw_records(settings)].count(refused) == 1
