"""Where a subscriber's events land: a sink applies each event once and says where to resume."""

from __future__ import annotations

import abc

from aiokafka import TopicPartition

from shared.envelope import Envelope


class Sink(abc.ABC):
    """Applies events once each; remembers applied event ids and where to resume per partition."""

    @abc.abstractmethod
    def resume_positions(self) -> dict[TopicPartition, int]:
        """The next offset to read per partition; partitions not named start from the beginning."""

    @abc.abstractmethod
    def already_applied(self, event_id: str) -> bool:
        """Whether this event id was applied before (a redelivery, or a duplicate record)."""

    @abc.abstractmethod
    async def apply(self, envelope: Envelope, *, resume_at: int) -> None:
        """Apply one event and record its id and ``resume_at`` for its partition, all or nothing."""

    async def apply_many(self, batch: list[tuple[Envelope, int]]) -> None:
        """Apply events in order, each with its ``resume_at``. A sink that can do it in one go overrides this,
        all or nothing: if it raises, none of the batch is applied (the caller applies them one at a time)."""
        for envelope, resume_at in batch:
            await self.apply(envelope, resume_at=resume_at)


class MemorySink(Sink):
    """A sink whose state lives in memory: rebuilt from the beginning of the topics on each start."""

    def __init__(self) -> None:
        self._applied: set[str] = set()
        self._positions: dict[TopicPartition, int] = {}

    def resume_positions(self) -> dict[TopicPartition, int]:
        """Where this process has got to."""
        return dict(self._positions)

    def already_applied(self, event_id: str) -> bool:
        """Whether the id was applied."""
        return event_id in self._applied

    async def apply(self, envelope: Envelope, *, resume_at: int) -> None:
        """Run ``handle``; mark the event applied only when it succeeded."""
        await self.handle(envelope)
        self._applied.add(envelope.id)
        if envelope.position:
            self._positions[TopicPartition(envelope.position.topic, envelope.position.partition)] = resume_at

    @abc.abstractmethod
    async def handle(self, envelope: Envelope) -> None:
        """What the event does to this sink's state."""
