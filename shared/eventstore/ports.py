"""The event store port: stage an aggregate's events (synchronously), commit them, load them back."""

from __future__ import annotations

import abc
import asyncio
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

from shared.envelope import Envelope
from shared.events import DomainEvent


class ConcurrencyError(Exception):
    """The aggregate moved on since the caller read it (expected version mismatch)."""

    def __init__(self, aggregate_id: str, *, expected: int, actual: int) -> None:
        super().__init__(f"{aggregate_id}: expected version {expected}, but it is at {actual}")
        self.aggregate_id, self.expected, self.actual = aggregate_id, expected, actual


class WriterFenced(Exception):
    """Another process took over this store's topics; this one may no longer append."""


class StoreUnavailable(Exception):
    """The store cannot append right now (not started, or recovering from a broker error)."""


@dataclass(frozen=True, slots=True)
class Context:
    """Who and what caused an append; copied into every envelope."""

    actor: str | None = None
    operator_id: str | None = None
    correlation_id: str | None = None
    causation_id: str | None = None
    traceparent: str | None = None


@dataclass(frozen=True, slots=True)
class AppendResult:
    """The envelopes an append produced; ``replayed`` when an idempotency key matched a first call."""

    envelopes: tuple[Envelope, ...]
    version: int
    replayed: bool = False


class Staged:
    """An append the store has accepted and shows to every later load; ``committed()`` waits for the broker."""

    __slots__ = ("_answer",)

    def __init__(self, answer: asyncio.Future[AppendResult] | AppendResult) -> None:
        self._answer = answer

    async def committed(self) -> AppendResult:
        """The append's result once it is committed (a replayed idempotency key: the first call's result)."""
        if isinstance(self._answer, AppendResult):
            return self._answer
        return await asyncio.shield(self._answer)


class EventStore(abc.ABC):
    """Append-only streams of events, one per aggregate, each in order.

    ``stage`` is synchronous: when it returns, the events are part of the stream for every later
    ``load``/``version`` in this process (so a decision taken right after sees them), and their
    commit is under way. Load, decide and stage without an ``await`` in between and no other
    decision can slip in: that is what makes one process the single writer of its aggregates.
    """

    @abc.abstractmethod
    def stage(
        self,
        aggregate_id: str,
        events: Sequence[DomainEvent],
        *,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
        context: Context = Context(),
    ) -> Staged:
        """Check the version and stage the events; ConcurrencyError when ``expected_version`` is not current.

        A key used before stages nothing: the answer is the first call's.
        """

    async def append(self, aggregate_id: str, events: Sequence[DomainEvent], **options: Any) -> AppendResult:
        """Stage (with the same options), then wait for the commit."""
        return await self.stage(aggregate_id, events, **options).committed()

    @abc.abstractmethod
    def load(self, aggregate_id: str) -> list[Envelope]:
        """Every event of one aggregate, in order (empty when it does not exist), staged ones included."""

    @abc.abstractmethod
    def version(self, aggregate_id: str) -> int:
        """How many events the aggregate has, staged ones included."""

    @abc.abstractmethod
    def since(self, position: int) -> Iterator[Envelope]:
        """The events from the ``position``-th on (0 = the first), in the order they were staged or read."""

    @property
    @abc.abstractmethod
    def generation(self) -> int:
        """Changes whenever the store forgot its staged events and read its topics again (after a failed commit)."""

    def all(self) -> Iterator[Envelope]:
        """Every event this store holds, in order."""
        return self.since(0)

    @abc.abstractmethod
    def seen(self, idempotency_key: str) -> bool:
        """Whether an append with this idempotency key has been staged."""

    @abc.abstractmethod
    async def answer(self, idempotency_key: str) -> AppendResult | None:
        """The first answer given for an idempotency key (waiting if it is being committed), or None."""
