"""One partition's writer: a transactional producer of its own, so a newer owner of the partition fences it.

What waits while a transaction is in flight goes out in the next one (group commit). One
transaction holds a batch's events, the snapshots of the aggregates they changed, their
idempotency keys, a checkpoint of the event offsets covered (all on the changelog topic), and the
offsets of the inbox records the batch decided on — all or nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from typing import Callable

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.errors import InvalidProducerEpoch, KafkaError, ProducerFenced
from aiokafka.producer import sender as _sender

from shared.kafka.clients import Access, aiokafka_options
from shared.envelope import Envelope, Position, encode, kafka_headers
from shared.eventstore.common import answer_json
from shared.eventstore.ports import AppendResult, InboxRecord, Snapshot, StoreUnavailable, WriterFenced
from shared.eventstore.state import Changes, Checkpoint

log = logging.getLogger(__name__)
# After a commit the broker writes the transaction markers; a transaction begun meanwhile is told
# CONCURRENT_TRANSACTIONS and aiokafka waits a hard-coded 20 ms before asking again. With group
# commit the next transaction begins right after the previous one, so that wait became the floor
# of every append's latency (measured: 26 ms → 6 ms per back-to-back commit on loopback at 5 ms).
_sender.BACKOFF_OVERRIDE = 0.005
FENCED = (ProducerFenced, InvalidProducerEpoch)
MAX_BATCH = 500
AGGREGATE, KEY, CHECKPOINT = "a:", "k:", "c:"


@dataclass
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
    ) -> None:
        """``topics``: the catalog topic base → its full name; ``committed``/``failed`` tell the store."""
        self.partition, self._topics, self._changelog, self._group_id = partition, topics, changelog, group_id
        self._bases = {full: base for base, full in topics.items()}
        self._committed, self._failed = committed, failed
        self._producer = AIOKafkaProducer(
            **aiokafka_options(kafka), transactional_id=transactional_id, enable_idempotence=True, acks="all", linger_ms=0
        )
        self._queue: asyncio.Queue[Pending] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._outstanding = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self.fenced = False

    async def start(self) -> None:
        """Initialise the transactional producer: any earlier writer of this partition is fenced from now on."""
        await self._producer.start()
        self._task = asyncio.create_task(self._loop(), name=f"eventstore-writer:{self.partition}")

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
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._fail_all(StoreUnavailable(f"partition {self.partition} is no longer written by this instance"))
        await self._producer.stop()

    async def write(self, changes: Changes, events: dict[str, int]) -> Checkpoint:
        """Write snapshots and keys a restore rebuilt from the events, in one transaction of their own."""
        async with self._producer.transaction():
            return await self._send_changelog(changes, events)

    async def _loop(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < MAX_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                changes = await self._commit(batch)
                self._committed(self.partition, changes)
                self._settle(batch)
            except FENCED as exc:
                self.fenced = True
                self._fail(batch + self._drained(), WriterFenced(f"partition {self.partition}: fenced ({exc})"))
                return
            except (KafkaError, OSError, ValueError) as exc:  # ValueError: a record too large to encode
                self._fail(batch + self._drained(), StoreUnavailable(f"append failed: {exc}"))

    async def _commit(self, batch: list[Pending]) -> Changes:
        event_sends, changes, encoded = [], Changes(), {}
        async with self._producer.transaction():
            for pending in batch:
                for envelope in pending.envelopes:
                    message = encode(envelope)
                    encoded[envelope.id] = message.value
                    topic = self._topics[type(envelope.event).topic]
                    event_sends.append(
                        await self._producer.send(
                            topic, message.value, key=message.key, partition=self.partition,
                            headers=kafka_headers(message),
                        )
                    )  # fmt: skip
            placed = [await send for send in event_sends]
            self._place(batch, placed)
            events = self._collect(batch, changes, encoded)
            checkpoint = await self._send_changelog(changes, events)
            offsets = self._inbox_offsets(batch)
            if offsets:
                assert self._group_id is not None, "an inbox record needs the store's group"
                await self._producer.send_offsets_to_transaction(offsets, self._group_id)
        changes.checkpoint = checkpoint
        return changes

    def _place(self, batch: list[Pending], placed: list) -> None:
        """Give each envelope the position it was written at."""
        positions = iter(placed)
        for pending in batch:
            pending.envelopes = [e.at(Position(m.topic, m.partition, m.offset)) for e, m in zip(pending.envelopes, positions)]

    def _collect(self, batch: list[Pending], changes: Changes, encoded: dict[str, bytes]) -> dict[str, int]:
        """What the batch changes on the changelog; returns the next event offset per topic base."""
        events: dict[str, int] = {}
        for pending in batch:
            for envelope in pending.envelopes:
                assert envelope.position is not None
                base = self._bases[envelope.position.topic]
                events[base] = max(events.get(base, 0), envelope.position.offset + 1)
            if pending.snapshot is not None and pending.aggregate_id is not None:
                changes.snapshots[pending.aggregate_id] = pending.snapshot
            if pending.keys and pending.envelopes:
                result = AppendResult(tuple(pending.envelopes), pending.envelopes[-1].sequence)
                answer = answer_json(result, [encoded[e.id] for e in pending.envelopes])
                changes.keys.update({key: (pending.at, answer) for key in pending.keys})
            changes.keys.update({key: None for key in pending.expired})
        return events

    async def _send_changelog(self, changes: Changes, events: dict[str, int]) -> Checkpoint:
        records = [(AGGREGATE + i, _snapshot_json(s)) for i, s in changes.snapshots.items() if s is not None]
        records += [(KEY + key, _key_json(kept)) for key, kept in changes.keys.items()]
        records.append((CHECKPOINT + str(self.partition), json.dumps({"events": events}).encode()))
        sends = [
            await self._producer.send(self._changelog, value, key=key.encode(), partition=self.partition)
            for key, value in records
        ]
        last = [await send for send in sends][-1]
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


def _snapshot_json(snapshot: Snapshot) -> bytes:
    body = {"version": snapshot.version, "state": snapshot.state, "index": snapshot.index}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def _key_json(kept: tuple[float, str] | None) -> bytes | None:
    if kept is None:
        return None  # a tombstone: compaction forgets the key
    return json.dumps({"at": kept[0], "answer": kept[1]}, ensure_ascii=False, separators=(",", ":")).encode()
