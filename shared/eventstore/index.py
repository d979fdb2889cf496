"""What every event store keeps: the streams by aggregate, versions and idempotency keys."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Iterator, Sequence

from shared.envelope import Envelope
from shared.events import DomainEvent
from shared.eventstore.ports import AppendResult, ConcurrencyError, Context, EventStore


class StreamIndex:
    """In-process view of the streams a store owns; the one place that decides versions."""

    def __init__(self, source: str) -> None:
        self.source = source
        self._streams: dict[str, list[Envelope]] = defaultdict(list)
        self._ordered: list[Envelope] = []
        self._place: dict[str, int] = {}
        self._keys: dict[str, asyncio.Future[AppendResult] | AppendResult] = {}
        self.generation = 0

    def reset(self) -> None:
        """Forget everything (before reading the topics again); followers see a new generation."""
        self.generation += 1
        self._streams.clear()
        self._ordered.clear()
        self._place.clear()
        self._keys.clear()

    def load(self, aggregate_id: str) -> list[Envelope]:
        """Events of one aggregate, including those whose commit is under way."""
        return list(self._streams.get(aggregate_id, ()))

    def version(self, aggregate_id: str) -> int:
        """The aggregate's version, counting appends under way."""
        stream = self._streams.get(aggregate_id)
        return len(stream) if stream else 0

    def since(self, position: int) -> Iterator[Envelope]:
        """Envelopes from the ``position``-th on, in append order (those added while iterating are not included)."""
        ordered = self._ordered
        return (ordered[i] for i in range(position, len(ordered)))  # from ``position`` on, not walked from the start

    def seen(self, key: str) -> bool:
        """Whether an idempotency key was used."""
        return key in self._keys

    def earlier_answer(self, key: str | None) -> asyncio.Future[AppendResult] | AppendResult | None:
        """The first call's answer (or its pending future) for an idempotency key."""
        return self._keys.get(key) if key else None

    def build(
        self,
        aggregate_id: str,
        events: Sequence[DomainEvent],
        *,
        expected_version: int | None,
        idempotency_key: str | None,
        context: Context,
    ) -> list[Envelope]:
        """Check the version and build the envelopes; does not change the index."""
        current = self.version(aggregate_id)
        if expected_version is not None and expected_version != current:
            raise ConcurrencyError(aggregate_id, expected=expected_version, actual=current)
        if not events:
            raise ValueError("append needs at least one event")
        topics = {type(event).topic for event in events}
        if len(topics) != 1:
            raise ValueError(f"one aggregate's events go to one topic, got {sorted(topics)}")
        return [
            Envelope(
                event=event,
                subject=aggregate_id,
                sequence=current + i + 1,
                source=self.source,
                operator_id=context.operator_id,
                actor=context.actor,
                correlation_id=context.correlation_id,
                causation_id=context.causation_id,
                idempotency_key=idempotency_key,
                traceparent=context.traceparent,
            )
            for i, event in enumerate(events)
        ]

    def add(self, envelopes: Sequence[Envelope]) -> None:
        """Record envelopes (staged or read back from the topic)."""
        for envelope in envelopes:
            self._streams[envelope.subject].append(envelope)
            self._place[envelope.id] = len(self._ordered)
            self._ordered.append(envelope)
            key = envelope.idempotency_key
            if key:
                earlier = self._keys.get(key)
                if isinstance(earlier, AppendResult):
                    merged = (*earlier.envelopes, envelope)
                    self._keys[key] = AppendResult(merged, envelope.sequence, replayed=True)
                elif earlier is None:
                    self._keys[key] = AppendResult((envelope,), envelope.sequence, replayed=True)

    def promise(self, key: str | None, future: asyncio.Future[AppendResult]) -> None:
        """Remember that an append with this key is under way."""
        if key:
            self._keys[key] = future

    def settle(self, key: str | None, result: AppendResult) -> None:
        """The append with this key committed: later calls get ``result`` as a replay."""
        if key:
            self._keys[key] = AppendResult(result.envelopes, result.version, replayed=True)

    def committed(self, envelopes: Sequence[Envelope]) -> None:
        """Replace staged envelopes by the same ones with their Kafka positions, once committed."""
        for envelope in envelopes:
            stream = self._streams.get(envelope.subject)
            index = envelope.sequence - 1
            if stream and index < len(stream) and stream[index].id == envelope.id:
                stream[index] = envelope
            place = self._place.get(envelope.id)
            if place is not None and self._ordered[place].id == envelope.id:
                self._ordered[place] = envelope


class IndexedEventStore(EventStore):
    """What both event stores answer from their stream index: loads, versions, keys."""

    _index: StreamIndex

    def load(self, aggregate_id: str) -> list[Envelope]:
        """Events of one aggregate, staged ones included."""
        return self._index.load(aggregate_id)

    def version(self, aggregate_id: str) -> int:
        """The aggregate's version, staged events included."""
        return self._index.version(aggregate_id)

    def since(self, position: int) -> Iterator[Envelope]:
        """Events from the ``position``-th on, in order."""
        return self._index.since(position)

    @property
    def generation(self) -> int:
        """How many times the store re-read its topics."""
        return self._index.generation

    def seen(self, idempotency_key: str) -> bool:
        """Whether the key was used."""
        return self._index.seen(idempotency_key)

    async def answer(self, idempotency_key: str) -> AppendResult | None:
        """The first answer for the key, once committed; None when the key is new."""
        earlier = self._index.earlier_answer(idempotency_key)
        if isinstance(earlier, asyncio.Future):
            return await asyncio.shield(earlier)
        return earlier
