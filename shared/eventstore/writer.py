"""One partition's writer: a transactional producer of its own, so a newer owner of the partition fences it.

What waits while a transaction is in flight goes out in the next one (group commit). One
transaction holds a batch's events, the snapshots of the aggregates they changed, their
idempotency keys, a checkpoint of the event offsets covered (all on the changelog topic), and the
offsets of the inbox records the batch decided on — all or nothing.

A record the client cannot send (too large, not serialisable) fails only the append it belongs to,
and the appends to the same aggregate staged after it (they were decided on top of it): the
transaction is aborted and the others go out again in the next one. Only an error that belongs to
no one record (the broker away, the writer fenced) fails the whole batch and makes the store read
the partition again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Callable

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.errors import InvalidProducerEpoch, KafkaError, MessageSizeTooLargeError, ProducerFenced
from aiokafka.producer import sender as _sender
from cloudevents.core.bindings.kafka import KafkaMessage

from shared import jsoncodec
from shared.backoff import Backoff
from shared.kafka.clients import Access, aiokafka_options
from shared.envelope import Envelope, Position, encode, kafka_headers
from shared.eventstore.common import Encoded, RecordRefused, answer_json, snapshot_json
from shared.eventstore.ports import AppendResult, InboxRecord, Snapshot, StoreUnavailable, WriterFenced
from shared.eventstore.state import Changes, Checkpoint
from shared.metrics import APPEND_SECONDS, COMMIT_SECONDS, EVENTS_APPENDED
from shared.supervision import Supervised

log = logging.getLogger(__name__)
# After a commit the broker writes the transaction markers; a transaction begun meanwhile is told
# CONCURRENT_TRANSACTIONS and aiokafka waits a hard-coded 20 ms before asking again. With group
# commit the next transaction begins right after the previous one, so that wait became the floor
# of every append's latency (measured: 26 ms → 6 ms per back-to-back commit on loopback at 5 ms).
_sender.BACKOFF_OVERRIDE = 0.005
FENCED = (ProducerFenced, InvalidProducerEpoch)
PER_RECORD = (MessageSizeTooLargeError, TypeError, ValueError)
"""Errors of one record that the client finds before sending it (its size, its content). A record the broker
refuses is not among them: the idempotent producer's sequence is spent, and only a new producer (which
could fence a newer owner) would recover it — the batch fails as a whole, so keep the store's limit below
every topic's ``max.message.bytes``."""
MAX_BATCH = 500
RECOVERY = Backoff(base=0.5, cap=10.0)
AGGREGATE, KEY, CHECKPOINT = "a:", "k:", "c:"


@dataclass(eq=False)
class Pending:
    """One staged append (or an inbox record that decided nothing, or expired keys) waiting for its transaction."""

    future: asyncio.Future[AppendResult]
    aggregate_id: str | None = None
    envelopes: list[Envelope] = field(default_factory=list)
    snapshot: Snapshot | None = None
    keys: list[str] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)
    inbox: InboxRecord | None = None
    at: float = 0.0
    encoded: Encoded | None = None


class Refused(Exception):
    """A record of ``pending`` was refused (``error``): only that append fails, the batch goes out again."""

    def __init__(self, pending: Pending, error: BaseException) -> None:
        super().__init__(str(error))
        self.pending, self.error = pending, error


class PartitionWriter:
    """Commits the appends of one owned partition, in the order they were staged."""

    def __init__(
        self,
        *,
        kafka: Access,
        transactional_id: str,
        partition: int,
        topics: dict[str, str],
        changelog: str,
        group_id: str | None,
        committed: Callable[[int, Changes], None],
        failed: Callable[[int, BaseException], None],
        rejected: Callable[[int, str, Snapshot | None, list[str]], None] = lambda *_: None,
    ) -> None:
        """``topics``: the catalog topic base → its full name; ``committed``/``failed``/``rejected`` tell the store
        (``rejected(partition, aggregate_id, snapshot still to commit or None, keys)``)."""
        self.partition, self._topics, self._changelog, self._group_id = partition, topics, changelog, group_id
        self._bases = {full: base for base, full in topics.items()}
        self._committed, self._failed, self._rejected = committed, failed, rejected
        self._producer = AIOKafkaProducer(
            **aiokafka_options(kafka), transactional_id=transactional_id, enable_idempotence=True, acks="all", linger_ms=0
        )
        self._queue: asyncio.Queue[Pending] = asyncio.Queue()
        self.task = Supervised(f"eventstore-writer:p{partition}", self._loop)
        """The commit loop, watched: an unexpected error fails its batch and marks the writer degraded until a
        commit succeeds again; a loop that ends anyway is started again."""
        self._outstanding = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self.fenced = False

    async def start(self) -> None:
        """Initialise the transactional producer: any earlier writer of this partition is fenced from now on."""
        await self._producer.start()
        self.task.start()

    def put(self, pending: Pending) -> None:
        """Queue a staged append for the next transaction."""
        if self.fenced:
            raise WriterFenced(f"the writer of partition {self.partition} was fenced by a newer owner")
        self._outstanding += 1
        self._idle.clear()
        pending.future.add_done_callback(self._done)
        self._queue.put_nowait(pending)

    def _done(self, future: asyncio.Future[AppendResult]) -> None:
        if not future.cancelled():
            future.exception()  # a failure is the stager's to see; retrieving it here keeps asyncio quiet
        self._outstanding -= 1
        if not self._outstanding:
            self._idle.set()

    @property
    def in_flight(self) -> int:
        """Appends queued or committing."""
        return self._outstanding

    async def drain(self) -> None:
        """Wait until everything queued so far is committed (or failed)."""
        await self._idle.wait()

    async def stop(self) -> None:
        """Stop after the transaction under way; what is still queued fails."""
        await self.task.stop()
        self._fail_all(StoreUnavailable(f"partition {self.partition} is no longer written by this instance"))
        await self._producer.stop()

    async def write(self, changes: Changes, events: dict[str, int]) -> Checkpoint:
        """Write snapshots and keys a restore rebuilt from the events, in one transaction of their own."""
        async with self._producer.transaction():
            return await self._send_changelog(changes, events)

    async def _next(self) -> Pending:
        """The next staged append; while the writer is degraded and nothing comes, an empty transaction every
        back-off tells when the producer works again (so readiness does not wait for traffic)."""
        attempt = 0
        while self.task.degraded is not None:
            attempt += 1
            try:
                return await asyncio.wait_for(self._queue.get(), RECOVERY.delay(attempt))
            except asyncio.TimeoutError:
                pass
            try:
                async with self._producer.transaction():
                    pass
            except FENCED:
                self.fenced = True
                self.task.recover()  # not this writer's to write any more: the store drops it
            except Exception as exc:  # noqa: BLE001 - still failing: say so, try again later
                self.task.degrade(f"{type(exc).__name__}: {exc}")
                await self._recover_transaction()
            else:
                self.task.recover()
        return await self._queue.get()

    async def _loop(self) -> None:
        while True:
            batch = [await self._next()]
            while len(batch) < MAX_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._commit_all_but_refused(batch)
            except FENCED as exc:
                self.fenced = True
                self._fail(batch + self._drained(), WriterFenced(f"partition {self.partition}: fenced ({exc})"))
                continue  # put() refuses from now on; the store stops this writer at its next assignment
            except (KafkaError, OSError, ValueError, TypeError) as exc:  # no one record's: the whole batch
                self._fail(batch + self._drained(), StoreUnavailable(f"append failed: {exc}"))
            except Exception as exc:  # noqa: BLE001 - unexpected (a client's state machine): fail loudly, go on
                reason = f"{type(exc).__name__}: {exc}"
                log.exception("event store writer failed unexpectedly", extra={"partition": self.partition})
                self.task.degrade(reason)
                self._fail(batch + self._drained(), StoreUnavailable(f"append failed: {reason}"))
                await self._recover_transaction()
            else:
                self.task.recover()

    async def _recover_transaction(self) -> None:
        """After an unexpected error, leave no transaction open: the next batch begins afresh."""
        manager = getattr(self._producer, "_txn_manager", None)
        try:
            if manager is not None and manager.is_in_transaction():
                await self._producer.abort_transaction()
        except Exception:  # noqa: BLE001 - the next batch fails and reports it again
            log.exception("could not abort the failed transaction", extra={"partition": self.partition})

    async def _commit_all_but_refused(self, batch: list[Pending]) -> None:
        """Commit the batch; a refused record takes its append (and the appends decided on it) out, and the rest
        goes again — each round leaves one append out at least, so it ends."""
        while batch:
            began = time.perf_counter()
            try:
                changes = await self._commit(batch)
            except Refused as refused:
                batch = self._reject(batch, refused.pending, refused.error)
                continue
            COMMIT_SECONDS.observe(time.perf_counter() - began)
            self._committed(self.partition, changes)
            self._settle(batch)
            _count(batch)
            return

    def _reject(self, batch: list[Pending], culprit: Pending, error: BaseException) -> list[Pending]:
        """Fail ``culprit`` and the appends to its aggregate staged after it (in the batch and still queued)."""
        aggregate_id = culprit.aggregate_id
        at = batch.index(culprit)
        later = batch[at + 1 :] + self._drained()
        dependent = [p for p in later if aggregate_id is not None and p.aggregate_id == aggregate_id]
        for pending in later:
            if pending not in dependent and pending not in batch:
                self._queue.put_nowait(pending)  # back in the queue, in the order they came
        kept = [p for p in batch if p is not culprit and p not in dependent]
        log.warning("an append was refused; the others go on", extra={"partition": self.partition, "error": str(error)})
        if not culprit.future.done():
            what = f"{aggregate_id or 'an append'}: a record of it could not be written ({type(error).__name__}: {error})"
            culprit.future.set_exception(RecordRefused(what))
        for pending in dependent:
            if not pending.future.done():
                pending.future.set_exception(StoreUnavailable(f"an earlier append to {aggregate_id} was refused: retry"))
        if aggregate_id is not None:
            survivors = [p.snapshot for p in kept if p.aggregate_id == aggregate_id and p.snapshot is not None]
            keys = [key for p in [culprit, *dependent] for key in p.keys]
            self._rejected(self.partition, aggregate_id, survivors[-1] if survivors else None, keys)
        return kept

    async def _commit(self, batch: list[Pending]) -> Changes:
        changes, owners = Changes(), {}
        async with self._producer.transaction():
            event_sends = []
            for pending in batch:
                for envelope, message in zip(pending.envelopes, self._messages(pending)):
                    topic = self._topics[type(envelope.event).topic]
                    send = await self._record(
                        pending, topic, message.value, key=message.key, headers=kafka_headers(message)
                    )
                    event_sends.append((pending, send))
            placed = [await send for _, send in event_sends]
            self._place(batch, placed)
            encoded: dict[str, bytes | None] = {}
            events = self._collect(batch, changes, owners, encoded)
            checkpoint = await self._send_changelog(changes, events, owners, encoded)
            offsets = self._inbox_offsets(batch)
            if offsets:
                assert self._group_id is not None, "an inbox record needs the store's group"
                await self._producer.send_offsets_to_transaction(offsets, self._group_id)
        changes.checkpoint = checkpoint
        return changes

    def _messages(self, pending: Pending) -> list[KafkaMessage]:
        """The append's records, encoded when it was staged (or now: a Refused when they cannot be)."""
        if pending.encoded is None:
            try:
                pending.encoded = Encoded([encode(e) for e in pending.envelopes], None)
            except PER_RECORD as exc:
                raise Refused(pending, exc) from None
        return pending.encoded.messages

    async def _record(self, pending: Pending | None, topic: str, value: bytes | None, **options: object) -> asyncio.Future:
        """Send one record in the transaction; an error of that record alone is the append's (Refused)."""
        try:
            return await self._producer.send(topic, value, partition=self.partition, **options)
        except PER_RECORD as exc:
            if pending is None:
                raise
            raise Refused(pending, exc) from None

    def _place(self, batch: list[Pending], placed: list) -> None:
        """Give each envelope the position it was written at."""
        positions = iter(placed)
        for pending in batch:
            pending.envelopes = [e.at(Position(m.topic, m.partition, m.offset)) for e, m in zip(pending.envelopes, positions)]

    def _collect(
        self, batch: list[Pending], changes: Changes, owners: dict[str, Pending], encoded: dict[str, bytes | None]
    ) -> dict[str, int]:
        """What the batch changes on the changelog (``owners``: changelog key → the append it is for; ``encoded``:
        aggregate → its snapshot's changelog value when the append made it already); returns the next event
        offset per topic base."""
        events: dict[str, int] = {}
        for pending in batch:
            for envelope in pending.envelopes:
                assert envelope.position is not None
                base = self._bases[envelope.position.topic]
                events[base] = max(events.get(base, 0), envelope.position.offset + 1)
            if pending.snapshot is not None and pending.aggregate_id is not None:
                changes.snapshots[pending.aggregate_id] = pending.snapshot
                owners[AGGREGATE + pending.aggregate_id] = pending
                encoded[pending.aggregate_id] = pending.encoded.snapshot if pending.encoded else None
            if pending.keys and pending.envelopes:
                answer = pending.encoded.answer if pending.encoded else None
                if answer is None:
                    result = AppendResult(tuple(pending.envelopes), pending.envelopes[-1].sequence)
                    answer = answer_json(result, [m.value for m in self._messages(pending)])
                changes.keys.update({key: (pending.at, answer) for key in pending.keys})
                owners.update({KEY + key: pending for key in pending.keys})
            changes.keys.update({key: None for key in pending.expired})
        return events

    async def _send_changelog(
        self, changes: Changes, events: dict[str, int], owners: dict[str, Pending] | None = None,
        encoded: dict[str, bytes | None] | None = None,
    ) -> Checkpoint:
        made = encoded or {}
        records = [(AGGREGATE + i, made.get(i) or snapshot_json(s)) for i, s in changes.snapshots.items() if s is not None]
        records += [(KEY + key, _key_json(kept)) for key, kept in changes.keys.items()]
        records.append((CHECKPOINT + str(self.partition), jsoncodec.dumps({"events": events})))
        owner = (owners or {}).get
        sends = [
            (owner(key), await self._record(owner(key), self._changelog, value, key=key.encode())) for key, value in records
        ]
        last = [await send for _, send in sends][-1]
        return Checkpoint(changelog=last.offset + 1, events=events)

    def _inbox_offsets(self, batch: list[Pending]) -> dict[TopicPartition, int]:
        offsets: dict[TopicPartition, int] = {}
        for pending in batch:
            if pending.inbox is not None:
                tp = TopicPartition(pending.inbox.topic, pending.inbox.partition)
                offsets[tp] = max(offsets.get(tp, 0), pending.inbox.offset + 1)
        return offsets

    def _settle(self, batch: list[Pending]) -> None:
        for pending in batch:
            if not pending.future.done():
                version = pending.envelopes[-1].sequence if pending.envelopes else 0
                pending.future.set_result(AppendResult(tuple(pending.envelopes), version))

    def _fail(self, batch: list[Pending], error: BaseException) -> None:
        log.error("event store append failed", extra={"partition": self.partition, "error": str(error)})
        for pending in batch:
            if not pending.future.done():
                pending.future.set_exception(error)
        self._failed(self.partition, error)

    def _fail_all(self, error: BaseException) -> None:
        for pending in self._drained():
            if not pending.future.done():
                pending.future.set_exception(error)

    def _drained(self) -> list[Pending]:
        drained = []
        while not self._queue.empty():
            drained.append(self._queue.get_nowait())
        return drained


def _count(batch: list[Pending]) -> None:
    """The committed appends in the metrics: events by type, and each append's wait from staging to commit."""
    now = time.time()
    for pending in batch:
        if not pending.envelopes:
            continue
        APPEND_SECONDS.observe(max(0.0, now - pending.at))
        for envelope in pending.envelopes:
            EVENTS_APPENDED.labels(type(envelope.event).event_type()).inc()


def _key_json(kept: tuple[float, str] | None) -> bytes | None:
    if kept is None:
        return None  # a tombstone: compaction forgets the key
    return jsoncodec.dumps({"at": kept[0], "answer": kept[1]})
