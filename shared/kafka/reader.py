"""Reading topics from a position to their current end (read_committed), without a consumer group."""

from __future__ import annotations

import asyncio
from typing import AsyncIterator, Iterable

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition


def committed_consumer(bootstrap: str, **kwargs: object) -> AIOKafkaConsumer:
    """A group-less consumer that sees only committed transactions."""
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        isolation_level="read_committed",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **kwargs,
    )


async def assign_all(consumer: AIOKafkaConsumer, topics: Iterable[str], *, timeout: float = 30.0) -> list[TopicPartition]:
    """Assign every partition of the topics to the consumer; TimeoutError if a topic does not appear."""
    partitions: list[TopicPartition] = []
    deadline = asyncio.get_running_loop().time() + timeout
    for topic in topics:
        ids = consumer.partitions_for_topic(topic)
        while not ids:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"topic {topic} does not exist (is the deployment's topic prefix right?)")
            await consumer._client.force_metadata_update()  # aiokafka has no public wait for metadata
            ids = consumer.partitions_for_topic(topic)
            if not ids:
                await asyncio.sleep(0.1)
        partitions.extend(TopicPartition(topic, p) for p in sorted(ids))
    consumer.assign(partitions)
    return partitions


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
