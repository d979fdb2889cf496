"""Taking a partition over: bring the local store up to the changelog, then fold any events it lacks.

Normally the changelog holds every committed snapshot (they are written in the same transactions
as the events), and only the records since the local checkpoint are read. When the changelog lacks
events — it was deleted, or never written — the snapshots are rebuilt from the event topics (the
truth) and written to the changelog again, so the next take-over is quick.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from shared import jsoncodec
from shared.envelope import DecodeError, Position, decode
from shared.eventstore.common import answer_json
from shared.eventstore.ports import AppendResult, Snapshot
from shared.eventstore.state import Changes, Checkpoint
from shared.eventstore.writer import AGGREGATE, CHECKPOINT, KEY, PartitionWriter
from shared.kafka.reader import read_partition

if TYPE_CHECKING:
    from shared.eventstore.kafka import KafkaEventStore

log = logging.getLogger(__name__)
CHUNK = 5000


async def restore_partition(store: "KafkaEventStore", writer: PartitionWriter, k: int) -> int:
    """Restore partition ``k`` into the store's local state; returns how many events had to be folded."""
    assert store.local is not None
    layout, checkpoint = store.layout, store.local.checkpoint(k)
    since = time.time() - layout.key_window_seconds
    changes, position, events = Changes(), checkpoint.changelog, dict(checkpoint.events)
    async for records in read_partition(layout.kafka, layout.changelog, k, start=checkpoint.changelog):
        for record in records:
            position = record.offset + 1
            _changelog_record(changes, events, record.key.decode(), record.value, since)
        if len(changes.snapshots) + len(changes.keys) >= CHUNK:
            changes = _flush(store, k, changes, Checkpoint(position, events))
    _flush(store, k, changes, Checkpoint(position, events))
    folded, count = Changes(), 0
    for base, topic in layout.topics.items():
        async for records in read_partition(layout.kafka, topic, k, start=events.get(base, 0)):
            for record in records:
                events[base] = record.offset + 1
                count += _fold(store, k, folded, layout.kinds[base], record, since)
            if len(folded.snapshots) >= CHUNK:
                folded = await _write(store, writer, k, folded, events)
    if folded.snapshots or folded.keys:
        log.info("rebuilt snapshots from the events", extra={"partition": k, "events": count})
        await _write(store, writer, k, folded, events)
    elif count == 0:
        _flush(store, k, Changes(), Checkpoint(position, events))
    return count


async def _write(store: "KafkaEventStore", writer: PartitionWriter, k: int, folded: Changes, events: dict[str, int]) -> Changes:
    """Put rebuilt snapshots on the changelog (so the next take-over need not fold again), then store them."""
    written = await writer.write(folded, dict(events))
    return _flush(store, k, folded, Checkpoint(written.changelog, dict(events)))


def _changelog_record(changes: Changes, events: dict[str, int], key: str, value: bytes | None, since: float) -> None:
    body = jsoncodec.loads(value) if value is not None else None
    if key.startswith(AGGREGATE):
        changes.snapshots[key[len(AGGREGATE):]] = None if body is None else Snapshot(body["version"], body["state"], body["index"])
    elif key.startswith(KEY):
        keep = body is not None and body["at"] >= since
        changes.keys[key[len(KEY):]] = (body["at"], body["answer"]) if keep else None  # type: ignore[index]
    elif key.startswith(CHECKPOINT) and body is not None:
        events.update(body["events"])


def _fold(store: "KafkaEventStore", k: int, folded: Changes, kind: type, record: object, since: float) -> int:
    """Fold one event into its aggregate's snapshot; 0 when unreadable or already covered (a duplicate)."""
    assert store.local is not None
    try:
        envelope = decode(record.value, position=Position(record.topic, record.partition, record.offset))  # type: ignore[attr-defined]
    except DecodeError as exc:
        log.warning("skipped an unreadable record in an event topic", extra={"reason": str(exc)})
        return 0
    snapshot = folded.snapshots.get(envelope.subject) or store.local.get(envelope.subject, k)
    aggregate = kind.restore(envelope.subject, snapshot.version, snapshot.state) if snapshot else kind(envelope.subject)
    if envelope.sequence <= aggregate.version:
        return 0
    aggregate.fold([envelope.event])
    folded.snapshots[envelope.subject] = Snapshot(aggregate.version, aggregate.snapshot(), aggregate.index())
    at = envelope.time.timestamp()
    if at >= since:
        answer = answer_json(AppendResult((envelope,), envelope.sequence))
        for key in [envelope.idempotency_key, *kind.markers_of(envelope.event)]:
            if key:
                folded.keys[key] = (at, answer)
    return 1


def _flush(store: "KafkaEventStore", k: int, changes: Changes, checkpoint: Checkpoint) -> Changes:
    assert store.local is not None
    changes.checkpoint = checkpoint
    store.local.commit(k, changes)
    return Changes()
