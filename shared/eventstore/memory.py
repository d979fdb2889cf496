"""An in-memory event store for handler tests and tools: one instance owning every aggregate; the Kafka store's rules."""

from __future__ import annotations

import uuid
from typing import Sequence

from shared.envelope import Envelope
from shared.events import DomainEvent
from shared.eventstore.common import envelopes_for
from shared.eventstore.ports import AppendResult, Context, EventStore, InboxRecord, Snapshot, Staged


class InMemoryEventStore(EventStore):
    """Keeps snapshots and keys in dicts; ``published`` is every envelope a Kafka store would have sent."""

    def __init__(self, source: str = "smguard/test") -> None:
        self.source = source
        self.published: list[Envelope] = []
        self.consumed_records: list[InboxRecord] = []
        self._snapshots: dict[str, Snapshot] = {}
        self._keys: dict[str, AppendResult] = {}

    def partition_of(self, key: str) -> int:
        """One partition holds everything."""
        return 0

    def require_owner(self, key: str) -> None:
        """This store owns every aggregate."""

    def new_id(self, *, near: str | None = None, prefix: str = "") -> str:
        """A fresh id."""
        return f"{prefix}{uuid.uuid4()}"

    def snapshot(self, aggregate_id: str) -> Snapshot | None:
        """The latest snapshot."""
        return self._snapshots.get(aggregate_id)

    def find(self, index: str, value: str, *, committed: bool = False) -> list[str]:
        """Aggregates whose index holds the value (everything here is committed at once)."""
        return sorted(i for i, s in self._snapshots.items() if value in s.index.get(index, ()))

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
        """Commit at once (there is no broker to wait for)."""
        earlier = self._keys.get(idempotency_key) if idempotency_key else None
        if earlier is not None:
            return Staged(earlier)
        current = self._snapshots[aggregate_id].version if aggregate_id in self._snapshots else 0
        envelopes = envelopes_for(
            aggregate_id, events, current=current, expected=expected_version, source=self.source,
            idempotency_key=idempotency_key, context=context,
        )  # fmt: skip
        self._snapshots[aggregate_id] = snapshot
        self.published.extend(envelopes)
        result = AppendResult(tuple(envelopes), envelopes[-1].sequence)
        for key in [idempotency_key, *markers]:
            if key:
                self._keys[key] = AppendResult(result.envelopes, result.version, replayed=True)
        if inbox is not None:
            self.consumed_records.append(inbox)
        for listener in self.commit_listeners:
            listener([aggregate_id])
        return Staged(result)

    def consumed(self, inbox: InboxRecord) -> Staged:
        """Remember the record as consumed."""
        self.consumed_records.append(inbox)
        return Staged(AppendResult((), 0))

    def seen(self, idempotency_key: str) -> bool:
        """Whether the key was used."""
        return idempotency_key in self._keys

    async def answer(self, idempotency_key: str) -> AppendResult | None:
        """The first answer for the key."""
        return self._keys.get(idempotency_key)
