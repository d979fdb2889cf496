"""The consumer base: every event applied once, failures parked in order, unreadable records dead-lettered."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Callable

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from shared import tracing
from shared.kafka.clients import Access
from shared.envelope import DecodeError, Envelope, Position, decode
from shared.kafka.deadletters import DeadLetters
from shared.kafka.reader import assign_all, committed_consumer, seek_to
from shared.kafka.sinks import Sink
from shared.logs import correlation_id
from shared.periodic import Periodic
from shared.supervision import Supervised

log = logging.getLogger(__name__)
Decoder = Callable[..., Envelope]
"""``decode(value, key=…, position=…)``: an envelope, or ``DecodeError``."""
BATCH = 250  # records applied in one transaction of the sink: bounds how long the event loop is held


@dataclass
class Parked:
    """An event that could not be applied, waiting with the later events of its aggregate."""

    envelope: Envelope
    reason: str
    attempts: int = 1


class Subscriber:
    """Reads topics (read_committed, every partition) into a sink; runs until stopped."""

    def __init__(
        self,
        *,
        kafka: Access,
        topics: list[str],
        sink: Sink,
        dead_letters: DeadLetters,
        name: str,
        retry_seconds: float = 5.0,
        decoder: Decoder = decode,
    ) -> None:
        """``decoder``: how a record's value becomes an envelope (a replay shares one decoding among its projections)."""
        self._kafka, self._topics, self._sink, self._dlq = kafka, topics, sink, dead_letters
        self._decode = decoder
        self.name = name
        self.parked: OrderedDict[str, deque[Parked]] = OrderedDict()
        self._ends: dict[TopicPartition, int] = {}
        self._done: dict[TopicPartition, int] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._task = Supervised(f"subscriber:{name}", self._run, on_restart=self._rewind)
        self._retry = Periodic(f"subscriber-retry:{name}", self.retry_parked, interval=retry_seconds)
        self.applied = 0

    async def start(self) -> None:
        """Assign all partitions, seek to where the sink left off, start reading in the background."""
        self._consumer = committed_consumer(self._kafka)
        await self._consumer.start()
        partitions = await assign_all(self._consumer, self._topics)
        await seek_to(self._consumer, partitions, self._sink.resume_positions())
        self._ends = await self._consumer.end_offsets(partitions)
        self._done = {tp: await self._consumer.position(tp) for tp in partitions}
        self._task.start()
        await self._retry.start()

    async def stop(self) -> None:
        """Stop reading (what was applied stays applied)."""
        await self._retry.stop()
        await self._task.stop()
        if self._consumer is not None:
            await self._consumer.stop()

    def supervised(self) -> list[Supervised]:
        """The reading loop and the retry timer."""
        return [self._task, *self._retry.supervised()]

    def _rewind(self) -> None:
        """Before the loop starts again: read again from what was processed (a fetched record was maybe not)."""
        assert self._consumer is not None
        for tp, offset in self._done.items():
            self._consumer.seek(tp, offset)

    async def caught_up(self) -> bool:
        """Whether everything that was in the topics when this subscriber started has been read."""
        return self._consumer is not None and self._processed(self._ends)

    async def lag(self) -> int:
        """Records in the topics now that this subscriber has not processed yet."""
        if self._consumer is None:
            return -1
        return sum((await self.partition_lags()).values())

    async def partition_lags(self) -> dict[TopicPartition, int]:
        """Per partition, the records in it now that this subscriber has not processed yet."""
        if self._consumer is None:
            return {}
        ends = await self._consumer.end_offsets(list(self._ends))
        return {tp: max(0, end - self._done.get(tp, 0)) for tp, end in ends.items()}

    def _processed(self, ends: dict[TopicPartition, int]) -> bool:
        """Whether every record below ``ends`` has been processed (applied, parked or dead-lettered)."""
        return all(self._done.get(tp, 0) >= end for tp, end in ends.items())

    async def wait_for_current_end(self, timeout: float = 30.0) -> None:
        """Wait until everything in the topics *now* has been read (e.g. just after producing)."""
        assert self._consumer is not None, "start() first"
        ends = await self._consumer.end_offsets(list(self._ends))
        deadline = asyncio.get_running_loop().time() + timeout
        while not self._processed(ends):
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"{self.name} did not reach the end of its topics in {timeout}s")
            await asyncio.sleep(0.02)

    async def _run(self) -> None:
        while True:
            fetched = await self._consumer.getmany(timeout_ms=500, max_records=1000)
            for tp, records in fetched.items():
                for start in range(0, len(records), BATCH):
                    chunk = records[start : start + BATCH]
                    await self.process_many(chunk)
                    self._done[tp] = chunk[-1].offset + 1
            await self._mark_idle_partitions(fetched)

    async def _mark_idle_partitions(self, fetched: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        """A partition with nothing fetched is processed up to the consumer's position (past transaction markers)."""
        assert self._consumer is not None
        for tp in self._done:
            if not fetched.get(tp):
                self._done[tp] = max(self._done[tp], await self._consumer.position(tp))

    async def process_many(self, records: list[ConsumerRecord]) -> None:
        """Process records of one partition in order: what can be applied is applied as one batch (one
        transaction of the sink); if the batch fails, each record is processed alone (the failing one parks)."""
        batch: list[tuple[Envelope, Position]] = []
        seen: set[str] = set()
        for record in records:
            position = Position(record.topic, record.partition, record.offset)
            try:
                if not record.key:  # an event topic is keyed by aggregate: unkeyed, its order is not its aggregate's
                    raise DecodeError("no key: an event record must be keyed by its aggregate id")
                envelope = self._decode(record.value, key=record.key, position=position)
            except DecodeError as exc:
                await self._dlq.send(record, str(exc))
                continue
            if envelope.id in seen or self._sink.already_applied(envelope.id):
                continue
            queue = self.parked.get(envelope.subject)
            if queue is not None:
                queue.append(Parked(envelope, "waiting behind an earlier parked event", attempts=0))
                continue
            seen.add(envelope.id)
            batch.append((envelope, position))
        if len(batch) <= 1:
            for envelope, position in batch:
                await self._apply_one(envelope, position)
            return
        span = self._span(batch[0][1].topic, [envelope.traceparent for envelope, _ in batch]) if tracing.ENABLED else None
        try:
            await self._sink.apply_many([(envelope, self._resume_at(position)) for envelope, position in batch])
            self.applied += len(batch)
            tracing.end(span)
        except Exception as exc:  # one of them cannot be applied: one at a time finds it (and parks it)
            tracing.end(span, exc)
            for envelope, position in batch:
                if not self._sink.already_applied(envelope.id):
                    await self._apply_one(envelope, position)

    async def process(self, record: ConsumerRecord) -> None:
        """Decode and apply one record, or dead-letter it, or park it behind its aggregate's."""
        await self.process_many([record])

    async def _apply_one(self, envelope: Envelope, position: Position) -> None:
        queue = self.parked.get(envelope.subject)
        if queue is not None:
            queue.append(Parked(envelope, "waiting behind an earlier parked event", attempts=0))
            return
        token = correlation_id.set(envelope.correlation_id or envelope.id)
        span = self._span(position.topic, [envelope.traceparent]) if tracing.ENABLED else None
        try:
            with tracing.current(span):
                await self._sink.apply(envelope, resume_at=self._resume_at(position))
            self.applied += 1
            tracing.end(span)
        except Exception as exc:  # any failure of the sink parks the event; the subscriber goes on
            tracing.end(span, exc)
            log.exception("parked an event that could not be applied", extra={"event_id": envelope.id})
            self.parked[envelope.subject] = deque([Parked(envelope, f"{type(exc).__name__}: {exc}")])
        finally:
            correlation_id.reset(token)

    def _span(self, topic: str, traceparents: list[str | None]) -> tracing.Span | None:
        """The span of applying records: the child of one record's trace, or linked to a batch's."""
        attributes = {"smguard.subscriber": self.name, "messaging.batch.message_count": len(traceparents)}
        return tracing.start_process(topic, links=traceparents, attributes=attributes)

    def _resume_at(self, position: Position) -> int:
        """Resume after this record, but never past a parked event of the same partition."""
        earliest = [
            p.envelope.position.offset
            for queue in self.parked.values()
            for p in queue
            if p.envelope.position and p.envelope.position[:2] == position[:2]
        ]
        return min([position.offset + 1, *earliest])

    async def retry_parked(self) -> None:
        """Try each parked aggregate's events again, in order; stop at the first that still fails."""
        for subject in list(self.parked):
            queue = self.parked[subject]
            while queue:
                item = queue[0]
                try:
                    position = item.envelope.position
                    resume = self._resume_at(position) if position else 0
                    await self._sink.apply(item.envelope, resume_at=resume)
                    self.applied += 1
                    queue.popleft()
                except Exception as exc:
                    item.attempts += 1
                    item.reason = f"{type(exc).__name__}: {exc}"
                    break
            if not queue:
                del self.parked[subject]

    def parked_view(self) -> list[dict[str, object]]:
        """What is parked, for the people who run the system."""
        return [
            {
                "subject": subject,
                "event_id": p.envelope.id,
                "type": p.envelope.type,
                "position": list(p.envelope.position) if p.envelope.position else None,
                "reason": p.reason,
                "attempts": p.attempts,
            }
            for subject, queue in self.parked.items()
            for p in queue
        ]
