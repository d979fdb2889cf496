"""Whether a record a faust agent read belongs to a committed transaction.

faust-streaming's consumers read ``read_uncommitted`` (unless the app runs exactly-once as a faust
worker, which the services do not), so an agent also sees records of transactions still open, and
of transactions that were aborted — a writer fenced in a rebalance aborts what it had in flight.
The service's own projections read ``read_committed``: an event is committed once the projection
fed by its topic has applied it. When the topic's last stable offset has passed the record (its
transaction is over) and the projection has read that far without applying it, it was aborted.
"""

from __future__ import annotations

from typing import Mapping

from aiokafka import AIOKafkaConsumer, TopicPartition

from shared.kafka.clients import Access
from shared.documents import DocumentSink
from shared.envelope import Envelope
from shared.kafka.reader import assign_all, committed_consumer
from shared.kafka.subscriber import Subscriber

POLL_SECONDS = 0.2  # how often the last stable offset is asked again while the record's transaction is open


class CommitWatch:
    """Answers ``committed(envelope)`` for records of topics that a ``read_committed`` projection reads (a component)."""

    def __init__(self, kafka: Access, feeds: Mapping[str, tuple[DocumentSink, Subscriber]]) -> None:
        """``feeds``: full topic name → the projection applying its events and the subscriber feeding it."""
        self._kafka, self._feeds = kafka, dict(feeds)
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        """Connect; the partitions are assigned only to ask their offsets, and paused (nothing is fetched)."""
        self._consumer = committed_consumer(self._kafka)
        await self._consumer.start()
        self._consumer.pause(*await assign_all(self._consumer, list(self._feeds)))

    async def stop(self) -> None:
        """Disconnect."""
        if self._consumer is not None:
            await self._consumer.stop()

    async def committed(self, envelope: Envelope) -> bool:
        """Wait until the event's transaction is over and its projection has read that far: True when committed.

        Once this answers True, the projection has applied the event and every event before it in its partition.
        """
        assert self._consumer is not None and envelope.position is not None, "start() first; a record read back"
        topic, partition, offset = envelope.position
        sink, subscriber = self._feeds[topic]
        tp = TopicPartition(topic, partition)
        while not sink.already_applied(envelope.id):
            stable = (await self._consumer.end_offsets([tp]))[tp]
            if stable > offset:  # committed (the projection applies it) or aborted (it never will)
                await subscriber.wait_for_current_end()
                return sink.already_applied(envelope.id)
            await sink.wait_for(lambda _: sink.already_applied(envelope.id), timeout=POLL_SECONDS)
        return True
