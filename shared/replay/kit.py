"""Replay, written once: rebuild a service's read models from the topics, and show the live ones.

Each service's bootstrap declares its ``ReadModels``: the topics they are built from and how to
make fresh, side-effect-free projections of them (a ``Projector``). ``rebuild`` feeds those from
the stream; the live service shows its own at ``GET /ops/read-model`` through a ``LiveReadModel``,
with the positions it reflects, so ``smguard replay`` can rebuild up to exactly those positions
and compare.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from itertools import groupby
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Awaitable, Callable, Iterable, Mapping, Protocol, Sequence

from shared.kafka import clients
from shared.config import Settings
from shared.envelope import DecodeError, Envelope, Parsed, Position, envelope_of, parse
from shared.eventstore import StoreUnavailable
from shared.kafka.sinks import Sink
from shared.kafka.subscriber import Subscriber
from shared.replay.records import Progress, Record, position_key, read_records

Snapshot = dict[str, Any]
SETTLE_ATTEMPTS = 50
SCRATCH_BATCH = 2_000
"""Records a scratch subscriber applies in one transaction (the live one applies 250: it must not hold its loop)."""


class Projector(Protocol):
    """Fresh projections a replay feeds; nothing they do leaves the process."""

    async def feed(self, record: Record) -> None:
        """Take in one record."""

    async def feed_many(self, records: Sequence[Record]) -> None:
        """Take in records of one partition in offset order, as few batches as the projections allow."""

    async def finish(self) -> Snapshot:
        """The read models as plain JSON data (the shape the live service shows)."""


@dataclass(frozen=True)
class ReadModels:
    """How one service's read models are rebuilt: from these topic bases, into ``scratch(settings)``."""

    service: str
    topics: tuple[str, ...]
    scratch: Callable[[Settings], Projector]


async def rebuild(
    settings: Settings,
    models: ReadModels,
    *,
    until: datetime | None = None,
    positions: dict[str, int] | None = None,
    progress: Progress | None = None,
) -> Snapshot:
    """The read models as the stream builds them: up to ``positions``, or as of ``until``, or to the end."""
    return (await rebuild_many(settings, [(models, positions)], until=until, progress=progress))[0]


async def rebuild_many(
    settings: Settings,
    chosen: Sequence[tuple[ReadModels, Mapping[str, int] | None]],
    *,
    until: datetime | None = None,
    progress: Progress | None = None,
) -> list[Snapshot]:
    """Several services' read models from one read of their topics, each up to its own positions (``None``: to the
    end): a record is fetched and decoded once and fed to every projection that reads its topic."""
    projectors = [models.scratch(settings) for models, _ in chosen]
    topics = sorted({topic for models, _ in chosen for topic in models.topics})
    union = _union(positions for _, positions in chosen)
    try:
        async for batch in read_records(settings, topics, until=until, positions=union, progress=progress):
            key = position_key(batch[0].topic, batch[0].partition)
            for (models, positions), projector in zip(chosen, projectors):
                if batch[0].topic in models.topics:
                    limit = positions.get(key, 0) if positions is not None else None
                    mine = batch if limit is None else [r for r in batch if r.offset < limit]
                    if mine:
                        await projector.feed_many(mine)
            DECODED.forget()
    finally:
        DECODED.forget()
    return [await projector.finish() for projector in projectors]


def _union(every: Iterable[Mapping[str, int] | None]) -> dict[str, int] | None:
    """Where one read must go for all: the furthest position of each partition (``None`` when one reads to the end)."""
    union: dict[str, int] = {}
    for positions in every:
        if positions is None:
            return None
        for key, offset in positions.items():
            union[key] = max(union.get(key, 0), offset)
    return union


class DecodeOnce:
    """Parses a record value once for all the projections a replay feeds it to (what it says is immutable)."""

    def __init__(self) -> None:
        self._parsed: dict[bytes | None, Parsed | DecodeError] = {}

    def __call__(self, value: bytes | None, *, key: bytes | None = None, position: Position | None = None) -> Envelope:
        """``envelope.decode``, parsing ``value`` only the first time until ``forget``."""
        found = self._parsed.get(value)
        if found is None:
            try:
                found = parse(value)
            except DecodeError as exc:
                found = exc
            self._parsed[value] = found
        if isinstance(found, DecodeError):
            raise DecodeError(str(found))
        return envelope_of(found, key=key, position=position)

    def forget(self) -> None:
        """Drop what was parsed (after each batch: memory stays bounded)."""
        self._parsed.clear()


DECODED = DecodeOnce()
"""The decoding every scratch subscriber shares (a miss only decodes again)."""


class NoDeadLetters:
    """A replay sends nothing: an unreadable record is only counted (the live service dead-lettered it)."""

    def __init__(self) -> None:
        self.count = 0

    async def send(self, record: Any, reason: str) -> None:
        """Count and drop."""
        self.count += 1


def scratch_dir(service: str) -> Path:
    """A temporary folder for a replay's scratch read models (``SinkProjector`` removes it when done)."""
    return Path(tempfile.mkdtemp(prefix=f"smguard-replay-{service}-"))


class SinkProjector:
    """Scratch sinks fed through the live subscriber's own code: decode, dedupe by event id, park a failing aggregate."""

    def __init__(
        self,
        settings: Settings,
        feeders: Mapping[str, Sink],
        snapshot: Callable[[], Snapshot],
        *,
        scratch: Path | None = None,
    ) -> None:
        """``feeders`` maps a topic base to the sink its records go to; ``scratch``: their folder, removed at the end."""
        self._settings, self._snapshot, self._scratch = settings, snapshot, scratch
        subscribers: dict[int, Subscriber] = {}
        self._sinks = list(feeders.values())
        self._by_topic: dict[str, Subscriber] = {}
        for base, sink in feeders.items():
            subscriber = subscribers.setdefault(id(sink), _scratch_subscriber(settings, sink))
            self._by_topic[base] = subscriber

    async def feed(self, record: Record) -> None:
        """Process the record as the live subscriber would."""
        await self.feed_many([record])

    async def feed_many(self, records: Sequence[Record]) -> None:
        """Process records as the live subscriber does a fetch: a partition's records in batches, each one transaction."""
        for (topic, _), same in groupby(records, key=lambda r: (r.topic, r.partition)):
            subscriber, part = self._by_topic[topic], [_as_consumer_record(self._settings, r) for r in same]
            for start in range(0, len(part), SCRATCH_BATCH):
                await subscriber.process_many(part[start : start + SCRATCH_BATCH])

    async def finish(self) -> Snapshot:
        """Retry what was parked (the live subscriber does too), then take the snapshot."""
        for subscriber in {id(s): s for s in self._by_topic.values()}.values():
            await subscriber.retry_parked()
        try:
            return self._snapshot()
        finally:
            for sink in {id(s): s for s in self._sinks}.values():
                close = getattr(sink, "close", None)
                if close is not None:
                    close()
            if self._scratch is not None:
                shutil.rmtree(self._scratch, ignore_errors=True)


def _scratch_subscriber(settings: Settings, sink: Sink) -> Subscriber:
    return Subscriber(
        kafka=clients.access(settings),
        topics=[],
        sink=sink,
        dead_letters=NoDeadLetters(),  # type: ignore[arg-type]  # only send() is used
        name="replay",
        decoder=DECODED,
    )


def _as_consumer_record(settings: Settings, record: Record) -> SimpleNamespace:
    """What ``Subscriber.process`` reads of a Kafka record, with the full topic name the live consumer sees."""
    return SimpleNamespace(
        topic=settings.topic(record.topic), partition=record.partition, offset=record.offset,
        value=record.value, key=record.key, headers=(),
    )  # fmt: skip


def positions_of(
    settings: Settings, bases: Iterable[str], sources: Iterable[Mapping[tuple[str, int], int]]
) -> dict[str, int]:
    """Next offsets by ``position_key`` for the topics ``bases``, from (full topic, partition) → offset maps."""
    names = {settings.topic(base): base for base in bases}
    found: dict[str, int] = {}
    for source in sources:
        for (topic, partition), offset in source.items():
            if topic in names:
                found[position_key(names[topic], partition)] = offset
    return found


class QuietStore(Protocol):
    """What a live read model needs of an event store it is derived from."""

    in_flight: int

    def positions(self) -> dict[tuple[str, int], int]: ...

    async def quiet(self) -> None: ...


class LiveReadModel:
    """A running service's read models and the positions they reflect, taken together with no await between."""

    def __init__(
        self,
        settings: Settings,
        topics: Sequence[str],
        *,
        snapshot: Callable[[], Snapshot],
        sinks: Sequence[Sink] = (),
        store: QuietStore | None = None,
        settle: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """``store``: the read models fold the store's own events too (its committed positions count, and
        they are taken only when no append is under way). ``settle``: what to wait for first (e.g. reactions)."""
        self._settings, self._topics, self._snapshot = settings, tuple(topics), snapshot
        self._sinks, self._store, self._settle = list(sinks), store, settle

    async def take(self) -> Snapshot:
        """``{"positions": …, "read_models": …}`` at a quiet moment."""
        for _attempt in range(SETTLE_ATTEMPTS):
            if self._settle is not None:
                await self._settle()
            if self._store is None or not self._store.in_flight:  # nothing awaited since: nothing applied meanwhile
                sources = [sink.resume_positions() for sink in self._sinks]
                if self._store is not None:
                    sources.append(self._store.positions())
                return {"positions": positions_of(self._settings, self._topics, sources), "read_models": self._snapshot()}
            await self._store.quiet()
        raise StoreUnavailable("appends keep arriving: no quiet moment to take the read model at; try again")
