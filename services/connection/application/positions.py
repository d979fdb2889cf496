"""The service's event store, also telling where its committed events landed and whether appends are under way.

``GET /ops/read-model`` needs the stream positions the live read model reflects. Events this
process appends carry their position only in the append's answer, so this wrapper keeps the
highest committed offset per partition and counts appends under way: with none under way, every
committed append has also been folded into the directory (the caller does that in the same step
the append returns), and the store holds no staged events.
"""

from __future__ import annotations

import asyncio
from typing import Any, Iterator, Sequence

from shared.envelope import Envelope
from shared.events import DomainEvent
from shared.eventstore import AppendResult, Context, EventStore


class TrackedStore(EventStore):
    """Delegates to the real store; remembers committed positions; knows when no append is under way."""

    def __init__(self, inner: EventStore) -> None:
        self.inner = inner
        self.in_flight = 0
        self._committed: dict[tuple[str, int], int] = {}
        self._quiet = asyncio.Event()
        self._quiet.set()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)  # ready, start, stop, undecodable, ... of the real store

    async def append(
        self,
        aggregate_id: str,
        events: Sequence[DomainEvent],
        *,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
        context: Context = Context(),
    ) -> AppendResult:
        """Append through the real store, counting it while under way."""
        self.in_flight += 1
        self._quiet.clear()
        try:
            result = await self.inner.append(
                aggregate_id, events,
                expected_version=expected_version, idempotency_key=idempotency_key, context=context,
            )  # fmt: skip
        finally:
            self.in_flight -= 1
            if not self.in_flight:
                self._quiet.set()
        for envelope in result.envelopes:
            self._advance(self._committed, envelope)
        return result

    async def quiet(self) -> None:
        """Return once no append is under way (it may start again right after)."""
        await self._quiet.wait()

    def positions(self) -> dict[tuple[str, int], int]:
        """Next offset per (full topic name, partition) past every committed event this store knows."""
        found = dict(self._committed)
        for envelope in self.inner.all():
            self._advance(found, envelope)  # events read back at start (or after a recovery) carry positions
        return found

    @staticmethod
    def _advance(found: dict[tuple[str, int], int], envelope: Envelope) -> None:
        if envelope.position is not None:
            key = (envelope.position.topic, envelope.position.partition)
            found[key] = max(found.get(key, 0), envelope.position.offset + 1)

    def load(self, aggregate_id: str) -> list[Envelope]:
        """Events of one aggregate."""
        return self.inner.load(aggregate_id)

    def version(self, aggregate_id: str) -> int:
        """The aggregate's version."""
        return self.inner.version(aggregate_id)

    def all(self) -> Iterator[Envelope]:
        """Every event in order."""
        return self.inner.all()

    def seen(self, idempotency_key: str) -> bool:
        """Whether the key was used."""
        return self.inner.seen(idempotency_key)

    async def answer(self, idempotency_key: str) -> AppendResult | None:
        """The first answer for the key."""
        return await self.inner.answer(idempotency_key)
