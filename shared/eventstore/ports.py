"""The event store port: append an aggregate's events, load them back."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Iterator, Sequence

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


def caused_by(envelope: Envelope, *, actor: str) -> Context:
    """The context of a reaction to ``envelope``: same correlation and tenant, caused by that event."""
    return Context(
        actor=actor,
        operator_id=envelope.operator_id,
        correlation_id=envelope.correlation_id or envelope.id,
        causation_id=envelope.id,
        traceparent=envelope.traceparent,
    )


@dataclass(frozen=True, slots=True)
class AppendResult:
    """The envelopes an append produced; ``replayed`` when an idempotency key matched a first call."""

    envelopes: tuple[Envelope, ...]
    version: int
    replayed: bool = False


class EventStore(abc.ABC):
    """Append-only streams of events, one per aggregate, each in order."""

    @abc.abstractmethod
    async def append(
        self,
        aggregate_id: str,
        events: Sequence[DomainEvent],
        *,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
        context: Context = Context(),
    ) -> AppendResult:
        """Append atomically; ConcurrencyError when ``expected_version`` is not the current one."""

    @abc.abstractmethod
    def load(self, aggregate_id: str) -> list[Envelope]:
        """Every event of one aggregate, in order (empty when it does not exist)."""

    @abc.abstractmethod
    def version(self, aggregate_id: str) -> int:
        """How many events the aggregate has."""

    @abc.abstractmethod
    def all(self) -> Iterator[Envelope]:
        """Every event this store holds, in the order it appended them."""

    @abc.abstractmethod
    def seen(self, idempotency_key: str) -> bool:
        """Whether an append with this idempotency key has been made."""

    async def answer(self, idempotency_key: str) -> AppendResult | None:
        """The first answer given for an idempotency key (waiting if it is being committed), or None."""
        return None
