"""Reading topics from a position to their current end (read_committed), without a consumer group."""

from __future__ import annotations

import asyncio
from typing import AsyncIterator, Iterable, Mapping

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from shared.kafka.clients import Access, aiokafka_options


# An idle fetch waits this long on the broker, and requests sent on the same connection meanwhile
# (end offsets, positions) queue behind it: aiokafka's default of 500 ms made every start-up step
# of a consumer take half a second.
FETCH_MAX_WAIT_MS = 100


def committed_consumer(kafka: Access, **kwargs: object) -> AIOKafkaConsumer:
    """A group-less consumer that sees only committed transactions."""
    options: dict[str, object] = {
        "isolation_level": "read_committed",
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "fetch_max_wait_ms": FETCH_MAX_WAIT_MS,
    }
    return AIOKafkaConsumer(**(aiokafka_options(kafka) | options | kwargs))


async def assign_all(consumer: AIOKafkaConsumer, topics: Iterable[str], *, timeout: float = 30.0) -> list[TopicPartition]:
    """Assign every partition of the topics to the consumer; TimeoutError if a topic does not appear."""
    names = list(topics)
    deadline = asyncio.get_running_loop().time() + timeout
    # A client tracking no topic asks the broker for the metadata of every topic, which grows with the
    # cluster; asking for these alone keeps a start quick however many topics the broker holds.
    await consumer._client.set_topics(names)  # aiokafka has no public way to wait for metadata
    while missing := [topic for topic in names if not consumer.partitions_for_topic(topic)]:
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"topic {missing[0]} does not exist (is the deployment's topic prefix right?)")
        await consumer._client.force_metadata_update()
        if any(not consumer.partitions_for_topic(topic) for topic in missing):
            await asyncio.sleep(0.1)
    partitions = [TopicPartition(topic, p) for topic in names for p in sorted(consumer.partitions_for_topic(topic))]
    consumer.assign(partitions)
    return partitions


async def seek_to(consumer: AIOKafkaConsumer, partitions: Iterable[TopicPartition], resume: Mapping[TopicPartition, int]) -> None:
    """Seek each partition to its resume offset, the others to their beginning (one request for all of those)."""
    fresh = []
    for tp in partitions:
        if tp in resume:
            consumer.seek(tp, resume[tp])
        else:
            fresh.append(tp)
    if fresh:
        await consumer.seek_to_beginning(*fresh)  # each call waits for its reset: one call, not one per partition


async def reached(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    """Whether the consumer's position is at or past each end offset."""
    for tp, end in ends.items():
        if await consumer.position(tp) < end:
            return False
    return True


async def read_to_end(
    consumer: AIOKafkaConsumer, partitions: list[TopicPartition], *, batch: int = 2000
) -> AsyncIterator[list[ConsumerRecord]]:
    """Yield batches of records until every partition's end (as of the call) is reached."""
    ends = await consumer.end_offsets(partitions)
    while not await reached(consumer, ends):
        fetched = await consumer.getmany(*partitions, timeout_ms=200, max_records=batch)
        for records in fetched.values():
            if records:
                yield records


async def read_partition(
    kafka: Access, topic: str, partition: int, *, start: int = 0, batch: int = 5000
) -> AsyncIterator[list[ConsumerRecord]]:
    """Batches of one partition's committed records from offset ``start`` to its end as of the call."""
    consumer = committed_consumer(kafka)
    await consumer.start()
    try:
        tp = TopicPartition(topic, partition)
        await assign_all(consumer, [topic])
        consumer.assign([tp])
        consumer.seek(tp, start)
        async for records in read_to_end(consumer, [tp], batch=batch):
            yield records
    finally:
        await consumer.stop()
