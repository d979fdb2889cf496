"""The one unit of work every command goes through: load the aggregate, let it decide, append what it decided.

Load, decide and stage run without an ``await`` in between, so in this process no other decision can
slip in between reading an aggregate and appending to it; the commit is then awaited. An idempotency
key used before answers with the first call's result and decides nothing again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Generic, Sequence, TypeVar

from shared.domain import Aggregate, NotFound
from shared.envelope import Envelope
from shared.events import DomainEvent
from shared.eventstore import AppendResult, ConcurrencyError, Context, EventStore, Staged

A = TypeVar("A", bound=Aggregate)
E = TypeVar("E", bound=DomainEvent)
ContextOf = Context | Callable[[A], Context]


@dataclass(frozen=True, slots=True)
class Saved:
    """What a command appended: the aggregate, its version after the append, and the events.

    A replayed idempotency key gives the first call's events again (``replayed``), so an answer derived
    from the events — a new id, a revision, "reconnected" — is the same on a retry.
    """

    aggregate_id: str
    version: int
    envelopes: tuple[Envelope, ...] = ()
    replayed: bool = False

    @classmethod
    def of(cls, result: AppendResult) -> "Saved":
        """The saved form of an event store answer."""
        return cls(result.envelopes[0].subject, result.version, result.envelopes, result.replayed)

    @property
    def events(self) -> list[DomainEvent]:
        """The domain events appended (none when the command decided nothing)."""
        return [envelope.event for envelope in self.envelopes]

    def first(self, kind: type[E]) -> E | None:
        """The first appended event of a type, or None."""
        return next((e for e in self.events if isinstance(e, kind)), None)


class Repository(Generic[A]):
    """The streams of one aggregate type in an event store."""

    def __init__(self, store: EventStore, kind: type[A], *, name: str) -> None:
        """``name`` is how errors call the aggregate, e.g. ``incident``."""
        self.store, self.kind, self.name = store, kind, name

    def load(self, aggregate_id: str) -> A:
        """The aggregate as its events left it (a new, empty one when it has none)."""
        return self.kind.rehydrate(aggregate_id, (e.event for e in self.store.load(aggregate_id)))

    def get(self, aggregate_id: str, *, expected_version: int | None = None) -> A:
        """An aggregate that exists, at the version the caller expects; NotFound or ConcurrencyError."""
        aggregate = self.load(aggregate_id)
        if not aggregate.exists:
            raise NotFound(f"{self.name} {aggregate_id} not found")
        if expected_version is not None and expected_version != aggregate.version:
            raise ConcurrencyError(aggregate_id, expected=expected_version, actual=aggregate.version)
        return aggregate

    def stage(self, aggregate: A, *, context: ContextOf[A], idempotency_key: str | None = None) -> Staged | None:
        """Stage what the aggregate decided (None when it decided nothing); later loads see it at once."""
        events = aggregate.take_pending()
        if not events:
            return None
        return self.store.stage(
            aggregate.id,
            events,
            expected_version=aggregate.version,
            idempotency_key=idempotency_key,
            context=context(aggregate) if callable(context) else context,
        )

    def stage_each(self, aggregate: A, keys: Sequence[str], *, context: ContextOf[A]) -> list[Staged]:
        """Stage each decided event on its own, under its own idempotency key (one per fact, e.g. per overdue item)."""
        events, version = aggregate.take_pending(), aggregate.version
        if len(events) != len(keys):
            raise ValueError(f"{len(events)} events but {len(keys)} idempotency keys")
        ctx = context(aggregate) if callable(context) else context
        staged = []
        for event, key in zip(events, keys):
            staged.append(self.store.stage(aggregate.id, [event], expected_version=version, idempotency_key=key, context=ctx))
            version = self.store.version(aggregate.id)
        return staged

    async def save(self, aggregate: A, *, context: ContextOf[A], idempotency_key: str | None = None) -> Saved:
        """Stage and wait for the commit."""
        staged = self.stage(aggregate, context=context, idempotency_key=idempotency_key)
        if staged is None:
            return Saved(aggregate.id, aggregate.version)
        return Saved.of(await staged.committed())

    async def create(
        self, make: Callable[[], A], *, context: ContextOf[A], idempotency_key: str | None = None
    ) -> Saved:
        """A command that starts a new aggregate (``make`` builds it with its first events)."""
        earlier = await self._earlier(idempotency_key)
        if earlier is not None:
            return earlier
        return await self.save(make(), context=context, idempotency_key=idempotency_key)

    async def change(
        self,
        aggregate_id: str,
        decide: Callable[[A], object],
        *,
        context: ContextOf[A],
        expected_version: int | None = None,
        idempotency_key: str | None = None,
        or_create: bool = False,
    ) -> Saved:
        """A command on an aggregate: load it, let ``decide`` call its decisions, append the outcome.

        The aggregate must exist (NotFound) unless ``or_create``: then a first command starts its stream.
        """
        earlier = await self._earlier(idempotency_key)
        if earlier is not None:
            return earlier
        if or_create:
            aggregate = self.load(aggregate_id)
            if expected_version is not None and expected_version != aggregate.version:
                raise ConcurrencyError(aggregate_id, expected=expected_version, actual=aggregate.version)
        else:
            aggregate = self.get(aggregate_id, expected_version=expected_version)
        decide(aggregate)
        return await self.save(aggregate, context=context, idempotency_key=idempotency_key)

    async def _earlier(self, idempotency_key: str | None) -> Saved | None:
        if not idempotency_key:
            return None
        result = await self.store.answer(idempotency_key)
        return Saved.of(result) if result is not None else None
