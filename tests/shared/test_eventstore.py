"""The Kafka event store's appends on a real broker: envelopes on the topic, versions, staging, a refused commit."""

from __future__ import annotations

import asyncio
import json

import pytest

from shared.kafka import clients
from shared.config import Settings
from shared.eventstore import ConcurrencyError, Context
from shared.eventstore.kafka import KafkaEventStore
from shared.eventstore.common import RecordTooLarge
from shared.kafka.reader import assign_all, read_to_end
from shared.repository import Repository
from shared.topics import INCIDENT_EVENTS
from tests.factories import eventually
from tests.shared.cases import CTX, Case, open_cases

pytestmark = pytest.mark.integration


async def raw_records(settings: Settings) -> list[dict]:
    """Every record of the incident topic as plain JSON, the way a SOC consumer reads it."""
    consumer = clients.consumer(settings, isolation_level="read_committed")
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


async def records_of(settings: Settings, subject: str, count: int) -> list[dict]:
    """The aggregate's records once ``count`` are readable (a commit's markers land just after it returns)."""

    async def mine() -> list[dict]:
        found = [r for r in await raw_records(settings) if r["subject"] == subject]
        return found if len(found) >= count else []

    return await eventually(mine, what=f"{count} records of {subject}")


def _opened_as(aggregate_id: str) -> Case:
    case = Case(aggregate_id)
    case.open()
    return case


def cases(store: KafkaEventStore) -> Repository[Case]:
    return Repository(store, Case, name="case")


class TestAppend:
    async def test_one_aggregates_events_stay_in_order_on_its_partition_as_cloudevents(self, stores, settings) -> None:
        store = await stores()
        [case] = await open_cases(store, 1)
        for part in ("initial", "cause"):
            await cases(store).change(case, lambda c, part=part: c.mark(part), context=Context(actor="soc-alice"))
        mine = await records_of(settings, case, 3)
        assert [r["sequence"] for r in mine] == [1, 2, 3]
        assert {r["partition"] for r in mine} == {store.partition_of(case)}
        assert {r["key"] for r in mine} == {case.encode()}
        assert mine[1]["type"] == "jp.smguard.ReportOverdue" and mine[1]["actor"] == "soc-alice"

    async def test_a_commit_gives_each_envelope_the_position_it_was_written_at(self, stores) -> None:
        store = await stores()
        [case] = await open_cases(store, 1)
        saved = await cases(store).change(case, lambda c: c.mark("initial"), context=CTX)
        [envelope] = saved.envelopes
        assert envelope.position is not None and envelope.position.partition == store.partition_of(case)


class TestVersions:
    async def test_of_two_decisions_on_one_load_only_the_first_is_staged(self, stores) -> None:
        store = await stores()
        [case] = await open_cases(store, 1)
        first, second = cases(store).get(case), cases(store).get(case)
        first.mark("initial")
        second.mark("cause")
        staged = cases(store).stage(first, context=CTX)
        with pytest.raises(ConcurrencyError):
            cases(store).stage(second, context=CTX)
        assert staged is not None and (await staged.committed()).version == 2

    async def test_a_stale_expected_version_is_refused_and_appends_nothing(self, stores, settings) -> None:
        store = await stores()
        [case] = await open_cases(store, 1)
        with pytest.raises(ConcurrencyError):
            await cases(store).change(case, lambda c: c.mark("initial"), context=CTX, expected_version=0)
        assert len(await records_of(settings, case, 1)) == 1


class TestStaging:
    async def test_a_staged_snapshot_is_seen_before_its_commit(self, stores) -> None:
        store = await stores()
        [case] = await open_cases(store, 1)
        aggregate = cases(store).get(case)
        aggregate.mark("initial")
        staged = cases(store).stage(aggregate, context=CTX)
        assert cases(store).get(case).overdue == ["initial"] and store.find("overdue", "initial") == [case]
        assert store.find("overdue", "initial", committed=True) == []
        await staged.committed()
        assert store.find("overdue", "initial", committed=True) == [case]

    async def test_an_append_too_large_for_the_broker_is_refused_when_staged_and_the_store_goes_on(
        self, stores, settings
    ) -> None:
        store = await stores()
        big = Case(store.new_id())
        big.open(description="x" * 2_000_000)  # past the broker's message.max.bytes
        with pytest.raises(RecordTooLarge, match=f"limit of {store.max_record_bytes} bytes"):
            cases(store).stage(big, context=CTX)
        assert not cases(store).load(big.id).exists
        await cases(store).create(lambda new: _opened_as(big.id), context=CTX)
        assert [r["sequence"] for r in await records_of(settings, big.id, 1)] == [1]

    async def test_appends_to_many_aggregates_at_once_all_land(self, stores, settings) -> None:
        store = await stores()
        opened = await asyncio.gather(*[open_cases(store, 1) for _ in range(50)])
        ids = {case for [case] in opened}

        async def all_landed() -> bool:  # a commit's markers reach the partitions just after it returns
            return ids <= {r["subject"] for r in await raw_records(settings)}

        await eventually(all_landed, what="every append readable by a read_committed consumer")
