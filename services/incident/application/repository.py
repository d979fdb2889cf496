"""Incidents over the event store: load, decide under one lock, append, and keep the lookup indexes."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Callable, Sequence, TypeVar

from shared.domain import NotFound
from shared.envelope import Envelope
from shared.events import DomainEvent
from shared.events.incident import AnomalyAttached, AnomalyDetected, IncidentCleared, IncidentOpened
from shared.eventstore import AppendResult, ConcurrencyError, Context, EventStore
from services.incident.domain.anomalies import AnomalyIndex
from services.incident.domain.model import Incident

T = TypeVar("T")


@dataclass(frozen=True)
class Write:
    """One append a decision asks for."""

    incident_id: str
    events: Sequence[DomainEvent]
    expected_version: int
    context: Context
    idempotency_key: str | None = None


class IncidentRepository:
    """The incident streams of one event store, and indexes of them (signals, open incidents)."""

    def __init__(self, store: EventStore) -> None:
        self.store = store
        self._lock = asyncio.Lock()
        self._index: AnomalyIndex | None = None
        self._open: set[str] = set()

    def load(self, incident_id: str) -> Incident:
        """The incident as its events left it (a fresh, unopened one when there are none)."""
        return Incident.rehydrate(incident_id, (e.event for e in self.store.load(incident_id)))

    def get(self, incident_id: str, *, expected_version: int | None = None) -> Incident:
        """An existing incident at the version the caller expects; NotFound or ConcurrencyError."""
        incident = self.load(incident_id)
        if not incident.opened:
            raise NotFound(f"incident {incident_id} not found")
        if expected_version is not None and expected_version != incident.version:
            raise ConcurrencyError(incident_id, expected=expected_version, actual=incident.version)
        return incident

    @property
    def index(self) -> AnomalyIndex:
        """Signals and open incidents per connection, built from the store on first use."""
        if self._index is None:
            self._index, self._open = AnomalyIndex(), set()
            for envelope in self.store.all():
                self._observe(envelope.subject, [envelope.event])
        return self._index

    def open_ids(self) -> list[str]:
        """Incidents not yet cleared."""
        _ = self.index
        return sorted(self._open)

    async def run(
        self, decide: Callable[[], tuple[list[Write], T]], *, idempotency_key: str | None = None
    ) -> tuple[list[AppendResult], T | None]:
        """Decide under the lock and start the appends; wait for their commits outside it.

        Each append stages its events synchronously when its task first runs, so once the lock is
        released every later decision sees them. A retried idempotency key gets the first answer.
        """
        async with self._lock:
            if idempotency_key and self.store.seen(idempotency_key):
                return [await self.store.append("", [], idempotency_key=idempotency_key)], None
            try:
                writes, answer = decide()
                for write in writes:
                    self._observe(write.incident_id, write.events)
            except BaseException:
                self._index = None
                raise
            tasks = [asyncio.ensure_future(self._append(w)) for w in writes]
            await asyncio.sleep(0)
        try:
            return list(await asyncio.gather(*tasks)), answer
        except BaseException:
            self._index = None  # rebuilt from the store, which dropped what did not land
            raise

    async def _append(self, write: Write) -> AppendResult:
        return await self.store.append(
            write.incident_id,
            write.events,
            expected_version=write.expected_version,
            idempotency_key=write.idempotency_key,
            context=write.context,
        )

    def _observe(self, incident_id: str, events: Sequence[DomainEvent]) -> None:
        index = self.index if self._index is not None else None
        if index is None:
            return
        for event in events:
            if isinstance(event, IncidentOpened):
                self._open.add(incident_id)
                if event.connection_id:
                    index.open_by_connection[event.connection_id] = incident_id
            elif isinstance(event, (AnomalyDetected, AnomalyAttached)):
                index.signals[event.signal_id] = incident_id
            elif isinstance(event, IncidentCleared):
                self._open.discard(incident_id)
                for connection, open_id in list(index.open_by_connection.items()):
                    if open_id == incident_id:
                        del index.open_by_connection[connection]


def first_subject(results: list[AppendResult]) -> str:
    """The incident an append went to (also for a replayed idempotent answer)."""
    envelopes: tuple[Envelope, ...] = results[0].envelopes
    return envelopes[0].subject
