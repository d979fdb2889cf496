"""Reads every event topic, record by record (raw bytes, read_committed), into the audit log.

Not a ``shared.kafka.Subscriber``: the log keeps each record's exact bytes and every record
(a duplicate or unreadable record is still part of the stream), so it must see raw records.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from shared import tracing
from shared.kafka import clients
from services.audit.projections.log import AuditLog
from shared.config import Settings
from shared.kafka.reader import assign_all, committed_consumer, seek_to
from shared.replay.records import Record
from shared.supervision import Supervised
from shared.topics import EVENT_TOPICS, position_key

log = logging.getLogger(__name__)


class AuditConsumer:
    """A runtime component: appends each committed record of the event topics to the audit log."""

    def __init__(self, settings: Settings, audit_log: AuditLog, *, name: str = "audit.log") -> None:
        self.name = name
        self._settings = settings
        self._log = audit_log
        self._consumer: AIOKafkaConsumer | None = None  # made in start(): aiokafka needs the running loop
        self._ends: dict[TopicPartition, int] = {}
        self._done: dict[TopicPartition, int] = {}  # next offset per partition not logged (or skipped) yet
        self._task = Supervised(f"consumer:{name}", self._run, on_restart=self._rewind)
        self._bases = {settings.topic(base): base for base in EVENT_TOPICS}

    async def start(self) -> None:
        """Assign every partition and seek to where the log left off."""
        self._consumer = committed_consumer(clients.access(self._settings))
        await self._consumer.start()
        partitions = await assign_all(self._consumer, list(self._bases))
        logged = {tp: self._log.positions.get(position_key(self._bases[tp.topic], tp.partition)) for tp in partitions}
        await seek_to(self._consumer, partitions, {tp: offset for tp, offset in logged.items() if offset is not None})
        self._ends = await self._consumer.end_offsets(partitions)
        self._done = {tp: await self._consumer.position(tp) for tp in partitions}
        self._task.start()

    async def stop(self) -> None:
        """Stop reading."""
        await self._task.stop()
        if self._consumer:
            await self._consumer.stop()

    def supervised(self) -> list[Supervised]:
        """The reading loop."""
        return [self._task]

    def _rewind(self) -> None:
        """Before the loop starts again: read again from the last logged record of each partition."""
        assert self._consumer is not None
        for tp in self._ends:
            self._consumer.seek(tp, self._logged(tp))

    def _logged(self, tp: TopicPartition) -> int:
        return self._log.positions.get(position_key(self._bases[tp.topic], tp.partition), 0)

    async def caught_up(self) -> bool:
        """Whether what was in the topics at start has been logged."""
        return self._consumer is not None and all(self._done.get(tp, 0) >= end for tp, end in self._ends.items())

    async def lag(self) -> int:
        """Records in the event topics now that are not logged yet."""
        if self._consumer is None:
            return -1
        return sum((await self.partition_lags()).values())

    async def partition_lags(self) -> dict[TopicPartition, int]:
        """Per partition, the records in it now that are not logged yet."""
        if self._consumer is None:
            return {}
        ends = await self._consumer.end_offsets(list(self._ends))
        return {tp: max(0, end - self._done.get(tp, 0)) for tp, end in ends.items()}

    def parked_view(self) -> list[dict[str, Any]]:
        """The log parks nothing: every record is appended as it is."""
        return []

    async def _run(self) -> None:
        assert self._consumer is not None
        while True:
            fetched = await self._consumer.getmany(timeout_ms=500, max_records=2000)
            for tp, records in fetched.items():
                base = self._bases[tp.topic]
                batch = [Record(base, r.partition, r.offset, r.value or b"") for r in records]
                span = tracing.start_process(
                    tp.topic, links=[tracing.of_record(r.headers) for r in records],
                    attributes={"smguard.subscriber": self.name, "messaging.batch.message_count": len(records)},
                ) if tracing.ENABLED else None  # fmt: skip
                try:
                    self._log.append(batch)
                    tracing.end(span)
                except Exception as exc:
                    tracing.end(span, exc)
                    log.exception("could not append to the audit log; re-reading from the last stored entry")
                    self._consumer.seek(tp, self._logged(tp))
                    await asyncio.sleep(1.0)
                    continue
                self._done[tp] = records[-1].offset + 1
            for tp in self._done:  # nothing fetched: logged up to the position (past transaction markers)
                if not fetched.get(tp):
                    self._done[tp] = max(self._done[tp], await self._consumer.position(tp))
