"""The event store over Kafka, scaled by partitions: each instance owns some and is their one writer.

Ownership comes from the service's consumer group (``ownership.py``). For each partition it owns,
the instance has a transactional producer of its own (``writer.py``): taking a partition over
fences its previous owner, so a zombie can never append after a rebalance. Aggregates are
decided against their latest snapshot (``state.py``, a local SQLite store restored from the
service's compacted changelog topic), so neither memory nor start-up grows with history. The
event topics stay the truth: a snapshot the changelog lacks is rebuilt from the events.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Sequence

from shared.kafka.clients import Access
from shared import tracing
from shared.backoff import Backoff
from shared.domain import Aggregate
from shared.events import DomainEvent
from shared.eventstore.common import DEFAULT_MAX_RECORD_BYTES, answer_of, encode_append, envelopes_for
from shared.eventstore.ownership import Ownership
from shared.eventstore.partitioning import id_on, partition_of
from shared.eventstore.ports import (
    AppendResult,
    Context,
    EventStore,
    InboxRecord,
    NotOwner,
    Snapshot,
    Staged,
    WriterFenced,
)
from shared.eventstore.restore import restore_partition
from shared.eventstore.state import Changes, Checkpoint, LocalState
from shared.eventstore.writer import PartitionWriter, Pending
from shared.supervision import Supervised

log = logging.getLogger(__name__)
TAKE_OVER_RETRY = Backoff(base=0.5, cap=10.0)


@dataclass(frozen=True)
class Layout:
    """Where a service's store lives: its topics, its group, and what this instance is called."""

    kafka: Access  # how to reach the broker (shared.kafka.clients)
    topics: dict[str, str]  # catalog topic base → full name
    kinds: dict[str, type[Aggregate]]  # topic base → the aggregate its events belong to
    inbox: str  # full name of the inbox topic (its partitions define ownership)
    changelog: str  # full name of the compacted snapshot topic
    group_id: str
    transactional_prefix: str
    partitions: int
    url: str
    instance: str
    state_path: Path
    source: str
    key_window_seconds: float
    cache_size: int = 10_000
    session_timeout_ms: int = 10_000
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES
    commit_deadline: float | None = 10.0


class KafkaEventStore(EventStore):
    """Event streams kept in Kafka topics (key = aggregate id); this instance writes the partitions it owns."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.owned: set[int] = set()
        self.writers: dict[int, PartitionWriter] = {}
        self.local: LocalState | None = None
        self.ownership = Ownership(
            kafka=layout.kafka, group_id=layout.group_id, inbox=layout.inbox, url=layout.url,
            instance=layout.instance, revoked=self._revoked, assigned=self._assigned,
            session_timeout_ms=layout.session_timeout_ms,
        )  # fmt: skip
        self._pending_keys: dict[str, tuple[int, asyncio.Future[AppendResult]]] = {}
        self.restoring: set[int] = set()
        self._assigned_once = asyncio.Event()
        self.restored_events = 0
        self._retries: set[asyncio.Task[None]] = set()
        self.max_record_bytes = layout.max_record_bytes
        self.commit_deadline = layout.commit_deadline
        """The largest record an append may write (the service's ``max_event_bytes``): RecordTooLarge beyond."""

    # ------------------------------------------------------------------ life

    async def start(self) -> None:
        """Open the local store and join the group (partitions arrive with the first assignment)."""
        self.local = LocalState(self.layout.state_path, cache_size=self.layout.cache_size)
        await self.ownership.start()

    async def stop(self) -> None:
        """Leave the group (the others take the partitions over), finish what is committing, close."""
        for task in list(self._retries):
            task.cancel()
        await asyncio.gather(*self._retries, return_exceptions=True)
        await self.ownership.stop()
        for writer in list(self.writers.values()):
            await writer.stop()
        self.writers.clear()
        if self.local is not None:
            self.local.close()

    @property
    def ready(self) -> bool:
        """Has an assignment, and every owned partition is restored."""
        return self._assigned_once.is_set() and not self.ownership.rebalancing and not self.restoring

    def supervised(self) -> list[Supervised]:
        """The commit loop of each partition's writer."""
        return [writer.task for _, writer in sorted(self.writers.items())]

    @property
    def in_flight(self) -> int:
        """Appends staged and not committed yet, on every owned partition."""
        return sum(writer.in_flight for writer in self.writers.values())

    async def quiet(self) -> None:
        """Return once no append is under way (another may start right after)."""
        for writer in list(self.writers.values()):
            await writer.drain()

    # ------------------------------------------------------------------ rebalances

    async def _revoked(self, partitions: set[int]) -> None:
        self.owned -= partitions
        for k in partitions:
            if k in self.writers:
                await self.writers[k].drain()

    async def _assigned(self, partitions: set[int]) -> set[int]:
        """Take the newly assigned partitions over; the ones served now (a failed one is tried again)."""
        assert self.local is not None
        for k in [k for k in self.writers if k not in partitions or self.writers[k].fenced]:
            self.owned.discard(k)  # not served while its writer is replaced: appends meanwhile are refused (NotOwner)
            await self.writers.pop(k).stop()
            self.local.discard(k)
        self.restoring = {k for k in partitions if k not in self.writers}
        for k in sorted(partitions):
            if k not in self.writers:
                try:
                    await self._take_over(k)
                except Exception:
                    log.exception("could not take partition over; trying again", extra={"partition": k})
                    self._retries.add(asyncio.create_task(self._take_over_later(k)))
                    continue
            self._serving(k)
        self._assigned_once.set()
        return set(self.owned)

    async def _take_over_later(self, k: int) -> None:
        """Retry taking ``k`` over while it stays assigned here (the broker away, a restore that failed)."""
        attempt = 0
        try:
            while k in self.ownership.assigned() and k not in self.owned:
                attempt += 1
                await asyncio.sleep(TAKE_OVER_RETRY.delay(attempt))
                if k in self.owned or k not in self.ownership.assigned() or self.ownership.rebalancing:
                    return  # the next assignment takes it over
                try:
                    await self._take_over(k)
                except Exception:
                    log.exception("could not take partition over; trying again", extra={"partition": k, "attempt": attempt})
                    continue
                self._serving(k)
                self.ownership.serve(k)
                log.info("partition taken over", extra={"partition": k, "attempt": attempt})
        finally:
            self._retries.discard(asyncio.current_task())  # type: ignore[arg-type]

    def _serving(self, k: int) -> None:
        self.owned.add(k)
        self.restoring.discard(k)

    async def _take_over(self, k: int) -> None:
        """Fence the previous writer of ``k``, then bring the local store up to its changelog and events."""
        assert self.local is not None
        writer = PartitionWriter(
            kafka=self.layout.kafka, transactional_id=f"{self.layout.transactional_prefix}.p{k}",
            partition=k, topics=self.layout.topics, changelog=self.layout.changelog, group_id=self.layout.group_id,
            committed=self._committed, failed=self._failed, rejected=self._rejected,
        )  # fmt: skip
        await writer.start()
        self.writers[k] = writer
        self.local.discard(k)
        try:
            self.restored_events += await restore_partition(self, writer, k)
        except BaseException:  # not served half-restored: the next attempt starts over
            self.writers.pop(k, None)
            self.local.discard(k)
            await writer.stop()
            raise

    def _committed(self, k: int, changes: Changes) -> None:
        assert self.local is not None
        if changes.checkpoint is not None:
            merged = self.local.checkpoint(k).events | changes.checkpoint.events
            changes.checkpoint = Checkpoint(changes.checkpoint.changelog, merged)
        self.local.commit(k, changes)
        for key in changes.keys:
            self._pending_keys.pop(key, None)
        changed = [aggregate_id for aggregate_id, snapshot in changes.snapshots.items() if snapshot is not None]
        for listener in self.commit_listeners:
            listener(changed)

    def _rejected(self, k: int, aggregate_id: str, survivor: Snapshot | None, keys: list[str]) -> None:
        """One aggregate's appends were refused (a record the broker would not take): the rest of the
        partition goes on. Later loads see what is still to commit for it, or what is committed."""
        assert self.local is not None
        if survivor is None:
            self.local.unstage(k, aggregate_id)
        else:
            self.local.stage(k, aggregate_id, survivor)
        for key in keys:
            self._pending_keys.pop(key, None)

    def _failed(self, k: int, error: BaseException) -> None:
        assert self.local is not None
        self.local.discard(k)
        for key in [key for key, (part, _) in self._pending_keys.items() if part == k]:
            del self._pending_keys[key]
        if isinstance(error, WriterFenced):
            self.owned.discard(k)
        asyncio.ensure_future(self.ownership.rewind(k))  # what the failed transaction consumed is read again

    # ------------------------------------------------------------------ the port

    def partition_of(self, key: str) -> int:
        """The partition of an aggregate id or idempotency key."""
        return partition_of(key, self.layout.partitions)

    def require_owner(self, key: str) -> None:
        """NotOwner unless this instance owns ``key``'s partition now."""
        k = self.partition_of(key)
        if k not in self.owned:
            owner = None if self.ownership.rebalancing or k in self.restoring else self.ownership.owners.get(k)
            raise NotOwner(key, partition=k, owner=owner if owner != self.layout.url else None)

    def _writer(self, k: int, key: str) -> PartitionWriter:
        """The writer of an owned partition; NotOwner while it has none (its writer being replaced)."""
        writer = self.writers.get(k)
        if writer is None:
            raise NotOwner(key, partition=k, owner=None)
        return writer

    def new_id(self, *, near: str | None = None, prefix: str = "") -> str:
        """A fresh id on ``near``'s partition, or on a partition this instance owns."""
        if near is not None:
            self.require_owner(near)
            return id_on(self.partition_of(near), self.layout.partitions, prefix=prefix)
        if not self.owned:
            others = [url for url in self.ownership.owners.values() if url and url != self.layout.url]
            raise NotOwner(prefix or "a new aggregate", partition=-1, owner=random.choice(others) if others else None)
        return id_on(random.choice(sorted(self.owned)), self.layout.partitions, prefix=prefix)

    def snapshot(self, aggregate_id: str) -> Snapshot | None:
        """The latest snapshot of an aggregate (of an owned partition: staged changes included)."""
        assert self.local is not None, "start() first"
        return self.local.get(aggregate_id, self.partition_of(aggregate_id))

    def find(self, index: str, value: str, *, committed: bool = False) -> list[str]:
        """Owned aggregates whose index holds ``value``."""
        assert self.local is not None, "start() first"
        return self.local.find(index, value, set(self.owned), committed=committed)

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
        """Stage now (later loads see the snapshot), commit in the partition's next transaction."""
        assert self.local is not None, "start() first"
        k = self.partition_of(aggregate_id)
        self.require_owner(aggregate_id)
        earlier = self._earlier(idempotency_key)
        if earlier is not None:
            return Staged(earlier)
        span = self._append_span(aggregate_id, events, context) if tracing.ENABLED else None
        if span is not None:  # the events carry the append's own span: their consumers continue from it
            context = replace(context, traceparent=tracing.traceparent_of(span))
        try:
            current = self.snapshot(aggregate_id)
            envelopes = envelopes_for(
                aggregate_id, events, current=current.version if current else 0, expected=expected_version,
                source=self.layout.source, idempotency_key=idempotency_key, context=context,
            )  # fmt: skip
            keys = [key for key in (idempotency_key, *markers) if key]
            encoded = encode_append(aggregate_id, envelopes, snapshot, keyed=bool(keys), limit=self.max_record_bytes)
        except BaseException as exc:
            tracing.end(span, exc)
            raise
        future: asyncio.Future[AppendResult] = asyncio.get_running_loop().create_future()
        if span is not None:
            future.add_done_callback(partial(tracing.end_when_done, span))
            tracing.remember(aggregate_id, context.traceparent)
        self._writer(k, aggregate_id).put(
            Pending(future, aggregate_id, envelopes, snapshot, keys, inbox=inbox, at=time.time(), encoded=encoded)
        )
        self.local.stage(k, aggregate_id, snapshot)
        for key in keys:
            self._pending_keys[key] = (k, future)
        return Staged(future)

    def _append_span(self, aggregate_id: str, events: Sequence[DomainEvent], context: Context) -> tracing.Span | None:
        """The span of an append: a child of the context's trace (or of the current span)."""
        if not events:
            return None
        topic = self.layout.topics.get(type(events[0]).topic, type(events[0]).topic)
        types = [event.event_type() for event in events]
        return tracing.start_append(topic, aggregate_id, types, parent=context.traceparent)

    def consumed(self, inbox: InboxRecord) -> Staged:
        """An inbox record that decided nothing: its offset commits with the partition's next transaction."""
        future: asyncio.Future[AppendResult] = asyncio.get_running_loop().create_future()
        if inbox.partition not in self.owned:
            raise NotOwner(inbox.topic, partition=inbox.partition, owner=None)
        self._writer(inbox.partition, inbox.topic).put(Pending(future, inbox=inbox))
        return Staged(future)

    def seen(self, idempotency_key: str) -> bool:
        """Whether the key was staged, or committed within the window."""
        return idempotency_key in self._pending_keys or self._kept(idempotency_key) is not None

    async def answer(self, idempotency_key: str) -> AppendResult | None:
        """The first answer for the key (waiting while it commits); None when new, expired or its append failed."""
        pending = self._pending_keys.get(idempotency_key)
        if pending is not None:
            try:
                result = await asyncio.shield(pending[1])
            except Exception:  # noqa: BLE001 - whatever refused it, the first attempt did not land
                return None  # the retry decides afresh
            return AppendResult(result.envelopes, result.version, replayed=True)
        kept = self._kept(idempotency_key)
        return answer_of(kept) if kept is not None else None

    def _earlier(self, key: str | None) -> asyncio.Future[AppendResult] | AppendResult | None:
        if not key:
            return None
        pending = self._pending_keys.get(key)
        if pending is not None:
            return pending[1]
        kept = self._kept(key)
        return answer_of(kept) if kept is not None else None

    def _kept(self, key: str) -> str | None:
        assert self.local is not None
        found = self.local.key(key)
        if found is None or found[0] < time.time() - self.layout.key_window_seconds:
            return None
        return found[1]

    # ------------------------------------------------------------------ housekeeping

    async def expire_keys(self) -> int:
        """Forget idempotency keys older than the window (tombstones on the changelog for owned partitions)."""
        assert self.local is not None
        expired = self.local.expire(time.time() - self.layout.key_window_seconds)
        for k, keys in expired.items():
            if k in self.owned:
                future: asyncio.Future[AppendResult] = asyncio.get_running_loop().create_future()
                self.writers[k].put(Pending(future, expired=keys))
        return sum(len(keys) for keys in expired.values())

