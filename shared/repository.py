"""The one unit of work every command goes through: load the aggregate, let it decide, append what it decided.

Load, decide and stage run without an ``await`` in between, so in this process no other decision can
slip in between reading an aggregate and appending to it; the commit is then awaited. The aggregate
is restored from its latest snapshot, so a long stream costs no more than a short one. An
idempotency key used before answers with the first call's result and decides nothing again. A
command for an aggregate on a partition another instance owns raises NotOwner (the HTTP edge
forwards it to the owner).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Generic, Sequence, TypeVar

from shared.domain import Aggregate, NotFound
from shared.envelope import Envelope
from shared.events import DomainEvent
from shared.eventstore import AppendResult, ConcurrencyError, Context, EventStore, InboxRecord, Snapshot, Staged

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

    def new_id(self, *, near: str | None = None, prefix: str = "") -> str:
        """An id for a new aggregate that this instance may create (on ``near``'s partition when given)."""
        return self.store.new_id(near=near, prefix=prefix)

    def load(self, aggregate_id: str) -> A:
        """The aggregate as its latest snapshot describes it (a new, empty one when it has none)."""
        snapshot = self.store.snapshot(aggregate_id)
        if snapshot is None:
            return self.kind(aggregate_id)
        return self.kind.restore(aggregate_id, snapshot.version, snapshot.state)

    def get(self, aggregate_id: str, *, expected_version: int | None = None) -> A:
        """An aggregate that exists, at the version the caller expects; NotFound or ConcurrencyError."""
        aggregate = self.load(aggregate_id)
        if not aggregate.exists:
            raise NotFound(f"{self.name} {aggregate_id} not found")
        if expected_version is not None and expected_version != aggregate.version:
            raise ConcurrencyError(aggregate_id, expected=expected_version, actual=aggregate.version)
        return aggregate

    def stage(
        self,
        aggregate: A,
        *,
        context: ContextOf[A],
        idempotency_key: str | None = None,
        markers: Sequence[str] = (),
        inbox: InboxRecord | None = None,
    ) -> Staged | None:
        """Stage what the aggregate decided (None when it decided nothing); later loads see it at once."""
        events = aggregate.take_pending()
        if not events:
            return None
        loaded = aggregate.version
        aggregate.version += len(events)
        return self.store.stage(
            aggregate.id,
            events,
            snapshot=Snapshot(aggregate.version, aggregate.snapshot(), aggregate.index()),
            expected_version=loaded,
            idempotency_key=idempotency_key,
            markers=[*markers, *(m for event in events for m in self.kind.markers_of(event))],
            context=context(aggregate) if callable(context) else context,
            inbox=inbox,
        )

    async def save(self, aggregate: A, *, context: ContextOf[A], idempotency_key: str | None = None) -> Saved:
        """Stage and wait for the commit."""
        staged = self.stage(aggregate, context=context, idempotency_key=idempotency_key)
        if staged is None:
            return Saved(aggregate.id, aggregate.version)
        return Saved.of(await staged.committed(within=self.store.commit_deadline))

    async def create(
        self,
        make: Callable[[str], A],
        *,
        context: ContextOf[A],
        idempotency_key: str | None = None,
        prefix: str = "",
    ) -> Saved:
        """A command that starts a new aggregate: ``make(new_id)`` builds it with its first events.

        The new id falls on the idempotency key's partition, so a retry — to whichever instance —
        reaches the owner that kept the first answer.
        """
        if idempotency_key:
            self.store.require_owner(idempotency_key)
        earlier = await self._earlier(idempotency_key)
        if earlier is not None:
            return earlier
        aggregate = make(self.new_id(near=idempotency_key, prefix=prefix))
        return await self.save(aggregate, context=context, idempotency_key=idempotency_key)

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
        self.store.require_owner(aggregate_id)
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
