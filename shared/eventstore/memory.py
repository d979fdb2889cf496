"""An in-memory event store for handler tests and tools; same rules as the Kafka one."""

from __future__ import annotations

import asyncio

from typing import Iterator, Sequence

from shared.envelope import Envelope
from shared.events import DomainEvent
from shared.eventstore.index import StreamIndex
from shared.eventstore.ports import AppendResult, Context, EventStore


class InMemoryEventStore(EventStore):
    """Keeps events in a list; ``published`` is what a Kafka store would have sent."""

    def __init__(self, source: str = "smguard/test") -> None:
        self._index = StreamIndex(source)
        self.published: list[Envelope] = []

    async def append(
        self,
        aggregate_id: str,
        events: Sequence[DomainEvent],
        *,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
        context: Context = Context(),
    ) -> AppendResult:
        """Append at once (there is no broker to wait for)."""
        earlier = self._index.earlier_answer(idempotency_key)
        if isinstance(earlier, AppendResult):
            return earlier
        envelopes = self._index.stage(
            aggregate_id,
            events,
            expected_version=expected_version,
            idempotency_key=idempotency_key,
            context=context,
        )
        self._index.add(envelopes)
        self.published.extend(envelopes)
        result = AppendResult(tuple(envelopes), envelopes[-1].sequence)
        self._index.settle(idempotency_key, result)
        return result

    def load(self, aggregate_id: str) -> list[Envelope]:
        """Events of one aggregate."""
        return self._index.load(aggregate_id)

    def version(self, aggregate_id: str) -> int:
        """The aggregate's version."""
        return self._index.version(aggregate_id)

    def all(self) -> Iterator[Envelope]:
        """Every event in order."""
        return self._index.all()

    def seen(self, idempotency_key: str) -> bool:
        """Whether the key was used."""
        return self._index.seen(idempotency_key)

    async def answer(self, idempotency_key: str) -> AppendResult | None:
        """The first answer for the key, once committed; None when the key is new."""
        earlier = self._index.earlier_answer(idempotency_key)
        if isinstance(earlier, asyncio.Future):
            return await asyncio.shield(earlier)
        return earlier
