"""An in-memory event store for handler tests and tools; same rules as the Kafka one."""

from __future__ import annotations

from typing import Sequence

from shared.envelope import Envelope
from shared.events import DomainEvent
from shared.eventstore.index import IndexedEventStore, StreamIndex
from shared.eventstore.ports import AppendResult, Context, Staged


class InMemoryEventStore(IndexedEventStore):
    """Keeps events in a list; ``published`` is what a Kafka store would have sent."""

    def __init__(self, source: str = "smguard/test") -> None:
        self._index = StreamIndex(source)
        self.published: list[Envelope] = []

    def stage(
        self,
        aggregate_id: str,
        events: Sequence[DomainEvent],
        *,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
        context: Context = Context(),
    ) -> Staged:
        """Commit at once (there is no broker to wait for)."""
        earlier = self._index.earlier_answer(idempotency_key)
        if earlier is not None:
            return Staged(earlier)
        envelopes = self._index.build(
            aggregate_id, events, expected_version=expected_version, idempotency_key=idempotency_key, context=context
        )
        self._index.add(envelopes)
        self.published.extend(envelopes)
        result = AppendResult(tuple(envelopes), envelopes[-1].sequence)
        self._index.settle(idempotency_key, result)
        return Staged(result)
