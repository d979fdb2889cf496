"""The live feed: the event topics read as they grow, kept briefly, and pushed to the browsers that follow them.

The console reads every event topic without a consumer group (it is no projection: nothing is stored,
nothing is committed), from a little before their end at start so a page that opens has recent lines,
then as events are written (read_committed: only what was committed). Each event becomes a short
``FeedItem``; the last ``console_feed_size`` are kept. A browser follows the feed through
Server-Sent Events: it gets a bounded queue of its own, and a browser too slow to keep up loses its
oldest lines rather than holding memory (the page says so). What each browser sees is what its user
may see: an operator only its own tenant's events (``Principal.may_see_operator``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Any, AsyncIterator

from shared.config import Settings
from shared.envelope import DecodeError, decode
from shared.kafka import clients
from shared.kafka.reader import assign_all, committed_consumer, reached
from shared.principal import Principal
from shared.supervision import Supervised
from shared.topics import CONNECTION_EVENTS, EVENT_TOPICS, INCIDENT_EVENTS

log = logging.getLogger(__name__)

BACKLOG_PER_PARTITION = 20
"""How many of each partition's last events are read at start, to show a page that opens right away."""
QUEUE_SIZE = 100
"""Lines a following browser may have waiting; beyond it its oldest are dropped."""


@dataclass(frozen=True, slots=True)
class FeedItem:
    """One event as the feed shows it: no payload beyond the ids that link to their pages."""

    id: str
    type: str
    time: datetime
    subject: str
    operator_id: str | None
    actor: str | None
    incident_id: str | None
    connection_id: str | None

    def visible_to(self, principal: Principal) -> bool:
        """Utility roles and auditors see every event; an operator only those of its own tenant."""
        return principal.may_see_operator(self.operator_id)


def item_of(envelope: Any, topic_base: str) -> FeedItem:
    """The feed line of a decoded event envelope read from a topic (its catalog base: whose ids subjects are)."""
    data = envelope.event
    incident = envelope.subject if topic_base == INCIDENT_EVENTS else getattr(data, "incident_id", None)
    connection = envelope.subject if topic_base == CONNECTION_EVENTS else getattr(data, "connection_id", None)
    return FeedItem(
        id=envelope.id, type=envelope.type, time=envelope.time, subject=envelope.subject, operator_id=envelope.operator_id,
        actor=envelope.actor, incident_id=str(incident) if incident else None, connection_id=str(connection) if connection else None,
    )  # fmt: skip


class LiveFeed:
    """Reads the event topics (a component of the console's runtime) and fans recent events out."""

    name = "console.feed"

    def __init__(self, settings: Settings, *, size: int, max_followers: int) -> None:
        self.settings = settings
        self.recent: deque[FeedItem] = deque(maxlen=size)
        self.max_followers = max_followers
        self._followers: set[asyncio.Queue[FeedItem]] = set()
        self._consumer: Any = None
        self._task: Supervised | None = None
        self._started = asyncio.Event()
        self.skipped = 0  # records that were not smguard events (the services dead-letter those; the feed skips them)

    async def start(self) -> None:
        self._task = Supervised("console.feed", self._run)
        self._task.start()

    async def stop(self) -> None:
        if self._task is not None:
            await self._task.stop()

    def supervised(self) -> list[Supervised]:
        return [self._task] if self._task is not None else []

    async def _run(self) -> None:
        consumer = committed_consumer(clients.access(self.settings), auto_offset_reset="latest")
        await consumer.start()
        try:
            partitions = await assign_all(consumer, [self.settings.topic(base) for base in EVENT_TOPICS])
            ends = await consumer.end_offsets(partitions)
            starts = await consumer.beginning_offsets(partitions)
            for tp in partitions:
                consumer.seek(tp, max(starts[tp], ends[tp] - BACKLOG_PER_PARTITION))
            backlog: list[FeedItem] = []
            while not await reached(consumer, ends):
                for records in (await consumer.getmany(timeout_ms=200, max_records=2000)).values():
                    backlog.extend(self._items(records))
            self.recent.extend(sorted(backlog, key=lambda item: item.time))
            self._started.set()
            while True:
                for records in (await consumer.getmany(timeout_ms=1000, max_records=500)).values():
                    for item in self._items(records):
                        self.publish(item)
        finally:
            with contextlib.suppress(Exception):
                await consumer.stop()

    def _items(self, records: list[Any]) -> list[FeedItem]:
        items = []
        for record in records:
            try:
                items.append(item_of(decode(record.value, key=record.key), record.topic.removeprefix(self.settings.topic_prefix)))
            except DecodeError:
                self.skipped += 1
        return items

    def publish(self, item: FeedItem) -> None:
        """Keep an event and hand it to every follower (dropping a slow follower's oldest line)."""
        self.recent.append(item)
        for queue in self._followers:
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(item)

    async def caught_up(self) -> bool:
        """Ready once the backlog at start has been read."""
        return self._started.is_set()

    async def lag(self) -> int:
        return 0 if self._started.is_set() else -1

    def parked_view(self) -> list[dict[str, Any]]:
        return []

    def latest(self, principal: Principal, limit: int) -> list[FeedItem]:
        """The newest events this user may see, newest first."""
        out: list[FeedItem] = []
        for item in reversed(self.recent):
            if item.visible_to(principal):
                out.append(item)
                if len(out) >= limit:
                    break
        return out

    @contextlib.asynccontextmanager
    async def follow(self) -> AsyncIterator[asyncio.Queue[FeedItem] | None]:
        """A queue of the events from now on (None when ``max_followers`` already follow)."""
        if len(self._followers) >= self.max_followers:
            yield None
            return
        queue: asyncio.Queue[FeedItem] = asyncio.Queue(maxsize=QUEUE_SIZE)
        self._followers.add(queue)
        try:
            yield queue
        finally:
            self._followers.discard(queue)
