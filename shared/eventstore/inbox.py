"""The inbox loop: the records of the partitions this instance owns, handed to the service to decide on.

It also keeps the instance in its group (a member that stops polling is dropped). A handler stages
what it decides with the last record as its ``InboxRecord`` (or marks records ``consumed``), so the
inbox offset commits in the same transaction as the decisions. A record the handler cannot take is
dead-lettered with the reason, and the partition goes on.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable

from aiokafka import ConsumerRecord

from shared.eventstore.kafka import KafkaEventStore
from shared.eventstore.ports import InboxRecord, StoreUnavailable
from shared.kafka.deadletters import DeadLetters
from shared.supervision import Supervised

log = logging.getLogger(__name__)
Handle = Callable[[int, list[ConsumerRecord]], Awaitable[None]]


class InboxLoop:
    """Feeds each owned partition's inbox records, in order, to ``handle(partition, records)``."""

    def __init__(self, store: KafkaEventStore, handle: Handle, dead_letters: DeadLetters, *, name: str) -> None:
        self.store, self._handle, self._dlq, self.name = store, handle, dead_letters, name
        self._task = Supervised(f"inbox:{name}", self._run, on_restart=self._rewind)
        self.handled = 0

    async def start(self) -> None:
        """Start reading in the background (watched: a loop that ends is started again)."""
        self._task.start()

    async def stop(self) -> None:
        """Stop reading (what was not committed is read again by the next owner)."""
        await self._task.stop()

    def supervised(self) -> list[Supervised]:
        """The reading loop."""
        return [self._task]

    async def _rewind(self) -> None:
        """Before the loop starts again: what it had fetched and not decided is read again (once what it had
        staged is committed, so nothing decided is decided twice)."""
        await self.store.quiet()
        for partition in sorted(self.store.owned):
            await self.store.ownership.rewind(partition)

    async def _run(self) -> None:
        while True:
            try:
                batches = await self.store.ownership.records()
            except Exception:  # the broker away: the consumer reconnects by itself
                log.exception("could not read the inbox; retrying", extra={"inbox": self.name})
                await asyncio.sleep(1.0)
                continue
            for partition, records in batches.items():
                if partition in self.store.owned:
                    await self._one(partition, records)
                else:  # revoked or fenced since the fetch: the next owner (or this one, later) reads them
                    self.store.ownership.unread(partition, records[0].offset)

    async def _one(self, partition: int, records: list[ConsumerRecord]) -> None:
        try:
            await self._handle(partition, records)
            self.handled += len(records)
        except StoreUnavailable as exc:  # not owned any more, or a commit failed: the records come again
            log.warning("inbox batch not decided; read again", extra={"partition": partition, "error": str(exc)})
            await self.store.ownership.rewind(partition)
        except Exception as exc:  # a record the service cannot take must not stop its partition
            log.exception("inbox batch failed; dead-lettered", extra={"partition": partition})
            await self._dead_letter(partition, records, f"{type(exc).__name__}: {exc}")

    async def _dead_letter(self, partition: int, records: list[ConsumerRecord], reason: str) -> None:
        try:
            for record in records:
                await self._dlq.send(record, reason)
            last = records[-1]
            self.store.consumed(InboxRecord(last.topic, last.partition, last.offset))
        except Exception:  # the dead-letter topic unreachable too: read the batch again later
            log.exception("could not dead-letter an inbox batch; it is read again", extra={"partition": partition})
            await self.store.ownership.rewind(partition)
