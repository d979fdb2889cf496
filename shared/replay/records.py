"""Reading event topics once, from the beginning to given positions (or their end), as raw records."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import AsyncIterator, Callable, Iterable

from aiokafka import TopicPartition

from shared.kafka import clients
from shared.config import Settings
from shared.envelope import DecodeError, decode
from shared.kafka.reader import assign_all, committed_consumer
from shared.topics import position_key

Progress = Callable[[int, int], None]
"""Called with (records read, records to read) as a replay goes."""
FETCH_RECORDS = 10_000  # per getmany: a replay reads whole histories, the bigger the batches the fewer the round trips
PARTITION_FETCH_BYTES = 16 * 2**20  # per partition and fetch request (aiokafka's default is 1 MiB)


@dataclass(frozen=True, slots=True)
class Record:
    """A Kafka record of an event topic; ``topic`` is the topic's base name (without the deployment prefix)."""

    topic: str
    partition: int
    offset: int
    value: bytes
    key: bytes | None = None  # the aggregate id: a live subscriber dead-letters a record without one


async def read_records(
    settings: Settings,
    bases: Iterable[str],
    *,
    until: datetime | None = None,
    positions: dict[str, int] | None = None,
    progress: Progress | None = None,
) -> AsyncIterator[list[Record]]:
    """Batches of records per partition, in offset order, up to ``positions`` (next offset per
    ``position_key``; partitions not named are not read) or to the end; a partition stops at its
    first event after ``until``."""
    names = {settings.topic(base): base for base in bases}
    consumer = committed_consumer(
        clients.access(settings), max_partition_fetch_bytes=PARTITION_FETCH_BYTES, fetch_max_bytes=4 * PARTITION_FETCH_BYTES
    )
    await consumer.start()
    try:
        partitions = await assign_all(consumer, list(names))
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        limits = {tp: _limit(tp, ends[tp], names, positions) for tp in partitions}
        done, total = 0, sum(limits.values())
        open_parts = {tp for tp in partitions if limits[tp] > 0}
        while open_parts:
            fetched = await consumer.getmany(*open_parts, timeout_ms=200, max_records=FETCH_RECORDS)
            for tp, records in fetched.items():
                batch, stop = _take(records, limits[tp], names[tp.topic], until)
                if batch:
                    yield batch
                done += len(records)
                if stop or await consumer.position(tp) >= limits[tp]:
                    open_parts.discard(tp)
            if progress:
                progress(min(done, total), total)
            for tp in list(open_parts):
                if await consumer.position(tp) >= limits[tp]:
                    open_parts.discard(tp)
    finally:
        await consumer.stop()


def _limit(tp: TopicPartition, end: int, names: dict[str, str], positions: dict[str, int] | None) -> int:
    if positions is None:
        return end
    return min(end, positions.get(position_key(names[tp.topic], tp.partition), 0))


def _take(records: list, limit: int, base: str, until: datetime | None) -> tuple[list[Record], bool]:
    batch: list[Record] = []
    for r in records:
        if r.offset >= limit:
            return batch, True
        if until is not None and _after(r.value, until):
            return batch, True
        batch.append(Record(base, r.partition, r.offset, r.value or b"", r.key))
    return batch, False


def _after(value: bytes | None, until: datetime) -> bool:
    try:
        return decode(value).time > until
    except DecodeError:
        return False
