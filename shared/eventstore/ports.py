"""The event store port: decide against an aggregate's snapshot, stage its events (synchronously), commit.

A service's aggregates are spread over its topics' partitions by their id (Kafka's partitioner);
an instance of the service *owns* some partitions and decides only for aggregates on them. The
store keeps each aggregate's latest snapshot, so loading it costs the same however long its
stream is, and the idempotency keys of a recent window.
"""

from __future__ import annotations

import abc
import asyncio
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Mapping, Sequence, TypeVar

from shared.envelope import Envelope
from shared.events import DomainEvent

T = TypeVar("T")

Index = Mapping[str, Sequence[str]]


class ConcurrencyError(Exception):
    """The aggregate moved on since the caller read it (expected version mismatch)."""

    def __init__(self, aggregate_id: str, *, expected: int, actual: int) -> None:
        super().__init__(f"{aggregate_id}: expected version {expected}, but it is at {actual}")
        self.aggregate_id, self.expected, self.actual = aggregate_id, expected, actual


class WriterFenced(Exception):
    """Another process took over this store's partition; this one may no longer append to it."""


class StoreUnavailable(Exception):
    """The store cannot append right now (not started, or recovering from a broker error)."""


class CommitUnconfirmed(StoreUnavailable):
    """The broker has not confirmed an append within the store's deadline (too few in-sync replicas, or it is
    away). The append may still commit: a retry with the same idempotency key gets its answer, not a second one."""

    def __init__(self, within: float) -> None:
        super().__init__(
            f"the broker has not confirmed this write within {within:g} s (too few in-sync replicas, or the broker "
            "is away); it may still be committed: retry with the same Idempotency-Key"
        )


async def confirmed(work: Awaitable[T], *, within: float | None) -> T:
    """``work`` (which waits for appends to commit), or CommitUnconfirmed after ``within`` seconds; the work goes
    on in the background (what it staged still commits): for a request whose caller should hear in time."""
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.wait_for(asyncio.shield(task), within)
    except asyncio.TimeoutError:
        assert within is not None
        raise CommitUnconfirmed(within) from None


class NotOwner(StoreUnavailable):
    """Another instance owns the aggregate's partition (``owner``: its base URL), or no one does yet (None)."""

    def __init__(self, key: str, *, partition: int, owner: str | None) -> None:
        where = f"instance {owner}" if owner else "no instance yet (the partitions are being rebalanced)"
        super().__init__(f"partition {partition} of {key!r} is owned by {where}")
        self.key, self.partition, self.owner = key, partition, owner


@dataclass(frozen=True, slots=True)
class Context:
    """Who and what caused an append; copied into every envelope."""

    actor: str | None = None
    operator_id: str | None = None
    correlation_id: str | None = None
    causation_id: str | None = None
    traceparent: str | None = None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """An aggregate's state as of ``version`` (JSON data), and what it is found by."""

    version: int
    state: dict[str, Any]
    index: Mapping[str, Sequence[str]]


@dataclass(frozen=True, slots=True)
class InboxRecord:
    """The inbox record a decision consumed: its offset commits with the decision's events, or alone."""

    topic: str
    partition: int
    offset: int


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

    async def committed(self, *, within: float | None = None) -> AppendResult:
        """The append's result once it is committed (a replayed idempotency key: the first call's result);
        CommitUnconfirmed after ``within`` seconds (the append itself goes on: it may still commit)."""
        if isinstance(self._answer, AppendResult):
            return self._answer
        try:
            return await asyncio.wait_for(asyncio.shield(self._answer), within)
        except asyncio.TimeoutError:
            assert within is not None
            raise CommitUnconfirmed(within) from None


class EventStore(abc.ABC):
    """Append-only streams of events, one per aggregate, each in order, with their latest snapshots.

    ``stage`` is synchronous: when it returns, the new snapshot is what every later ``snapshot()``
    in this process answers (so a decision taken right after sees it), and the commit is under
    way. Load, decide and stage without an ``await`` in between and no other decision can slip in.
    """

    commit_deadline: float | None = None
    """How long a caller waits for the broker to confirm an append before CommitUnconfirmed (None: for ever)."""

    @abc.abstractmethod
    def partition_of(self, key: str) -> int:
        """The partition an aggregate id (or an idempotency key) belongs to."""

    @abc.abstractmethod
    def require_owner(self, key: str) -> None:
        """Return if this instance owns ``key``'s partition now; NotOwner otherwise."""

    @abc.abstractmethod
    def new_id(self, *, near: str | None = None) -> str:
        """A fresh aggregate id on a partition this instance owns — ``near``'s partition when given."""

    @abc.abstractmethod
    def snapshot(self, aggregate_id: str) -> Snapshot | None:
        """The aggregate's latest snapshot, staged changes included (None: it has no events)."""

    @abc.abstractmethod
    def find(self, index: str, value: str, *, committed: bool = False) -> list[str]:
        """The ids of aggregates this instance owns whose index ``index`` holds ``value`` (``committed``:
        leave out what is staged but not committed yet — before a side effect such as an e-mail)."""

    def on_commit(self, listener: Callable[[Sequence[str]], None]) -> None:
        """Call ``listener`` with the ids of the aggregates each commit changed (after it is committed)."""
        self.commit_listeners.append(listener)

    @property
    def commit_listeners(self) -> list[Callable[[Sequence[str]], None]]:
        """Who is told of each commit."""
        if not hasattr(self, "_commit_listeners"):
            self._commit_listeners: list[Callable[[Sequence[str]], None]] = []
        return self._commit_listeners

    @abc.abstractmethod
    def stage(
        self,
        aggregate_id: str,
        events: Sequence[DomainEvent],
        *,
        snapshot: Snapshot,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
        markers: Sequence[str] = (),
        context: Context = Context(),
        inbox: InboxRecord | None = None,
    ) -> Staged:
        """Check the version, stage the events and the aggregate's snapshot after them.

        ConcurrencyError when ``expected_version`` is not current. A key used before (within the
        window) stages nothing: the answer is the first call's. ``markers`` are further keys that
        answer the same (e.g. the signal ids an append attached). ``inbox``: the record decided on,
        whose offset commits with these events.
        """

    @abc.abstractmethod
    def consumed(self, inbox: InboxRecord) -> Staged:
        """An inbox record that decided nothing: its offset commits (with the next transaction)."""

    async def append(self, aggregate_id: str, events: Sequence[DomainEvent], **options: Any) -> AppendResult:
        """Stage (with the same options), then wait for the commit."""
        return await self.stage(aggregate_id, events, **options).committed()

    @abc.abstractmethod
    def seen(self, idempotency_key: str) -> bool:
        """Whether an append with this idempotency key (or marker) was staged within the window."""

    @abc.abstractmethod
    async def answer(self, idempotency_key: str) -> AppendResult | None:
        """The first answer given for an idempotency key or marker (waiting if it is being committed), or None."""
