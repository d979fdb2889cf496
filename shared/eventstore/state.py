"""The local state store: each owned aggregate's latest snapshot, its index, and the recent idempotency keys.

A SQLite file per service instance, restored from the service's changelog topic when a partition
is taken over; an in-memory overlay holds what is staged but not committed yet, and a bounded
cache the snapshots read most recently. Memory does not grow with the number of events, nor
with the number of aggregates beyond the cache.
"""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from shared import jsoncodec
from shared.eventstore.ports import Snapshot

SCHEMA = """
CREATE TABLE IF NOT EXISTS aggregates (id TEXT PRIMARY KEY, part INTEGER NOT NULL, version INTEGER NOT NULL,
  state TEXT NOT NULL, idx TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS aggregates_part ON aggregates (part);
CREATE TABLE IF NOT EXISTS idx (name TEXT NOT NULL, value TEXT NOT NULL, id TEXT NOT NULL, part INTEGER NOT NULL,
  PRIMARY KEY (name, value, id));
CREATE INDEX IF NOT EXISTS idx_id ON idx (id);
CREATE TABLE IF NOT EXISTS keys (key TEXT PRIMARY KEY, part INTEGER NOT NULL, at REAL NOT NULL, answer TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS keys_at ON keys (at);
CREATE TABLE IF NOT EXISTS checkpoints (part INTEGER PRIMARY KEY, changelog INTEGER NOT NULL, events TEXT NOT NULL);
"""


@dataclass
class Checkpoint:
    """How far the local store reflects a partition: the changelog offset next to read, and the event offsets covered."""

    changelog: int = 0
    events: dict[str, int] = field(default_factory=dict)


@dataclass
class Changes:
    """What one committed transaction (or one restore step) changes in a partition."""

    snapshots: dict[str, Snapshot | None] = field(default_factory=dict)  # None: deleted
    keys: dict[str, tuple[float, str] | None] = field(default_factory=dict)  # key → (at, answer JSON); None: expired
    checkpoint: Checkpoint | None = None


class LocalState:
    """Snapshots, index and keys of the partitions this instance owns (and of those it owned before)."""

    def __init__(self, path: Path, *, cache_size: int = 10_000) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        self._cache: OrderedDict[str, Snapshot | None] = OrderedDict()
        self._cache_size = cache_size
        self._overlay: dict[int, dict[str, Snapshot]] = {}

    # ------------------------------------------------------------------ reading

    def get(self, aggregate_id: str, part: int) -> Snapshot | None:
        """The latest snapshot: staged, else cached, else stored."""
        staged = self._overlay.get(part, {}).get(aggregate_id)
        if staged is not None:
            return staged
        if aggregate_id in self._cache:
            self._cache.move_to_end(aggregate_id)
            return self._cache[aggregate_id]
        row = self.db.execute("SELECT version, state, idx FROM aggregates WHERE id = ?", (aggregate_id,)).fetchone()
        found = Snapshot(row[0], jsoncodec.loads(row[1]), jsoncodec.loads(row[2])) if row else None
        self._remember(aggregate_id, found)
        return found

    def find(self, name: str, value: str, parts: set[int], *, committed: bool = False) -> list[str]:
        """Ids on ``parts`` whose index ``name`` holds ``value`` — staged changes included unless ``committed``."""
        rows = self.db.execute("SELECT id, part FROM idx WHERE name = ? AND value = ?", (name, value))
        found = {i for i, part in rows if part in parts}
        for part in [] if committed else parts:
            for aggregate_id, snapshot in self._overlay.get(part, {}).items():
                if value in snapshot.index.get(name, ()):
                    found.add(aggregate_id)
                else:
                    found.discard(aggregate_id)
        return sorted(found)

    def key(self, key: str) -> tuple[float, str] | None:
        """A committed idempotency key's time and answer."""
        row = self.db.execute("SELECT at, answer FROM keys WHERE key = ?", (key,)).fetchone()
        return (row[0], row[1]) if row else None

    def checkpoint(self, part: int) -> Checkpoint:
        """How far the store reflects ``part``."""
        row = self.db.execute("SELECT changelog, events FROM checkpoints WHERE part = ?", (part,)).fetchone()
        return Checkpoint(row[0], jsoncodec.loads(row[1])) if row else Checkpoint()

    def ids(self, part: int) -> list[str]:
        """Every aggregate stored for a partition."""
        return [r[0] for r in self.db.execute("SELECT id FROM aggregates WHERE part = ?", (part,))]

    # ------------------------------------------------------------------ writing

    def stage(self, part: int, aggregate_id: str, snapshot: Snapshot) -> None:
        """A snapshot staged, not yet committed: every later ``get`` answers it."""
        self._overlay.setdefault(part, {})[aggregate_id] = snapshot

    def unstage(self, part: int, aggregate_id: str) -> None:
        """Forget what was staged for one aggregate (its appends were refused): loads see the committed snapshot."""
        self._overlay.get(part, {}).pop(aggregate_id, None)
        self._cache.pop(aggregate_id, None)

    def discard(self, part: int) -> None:
        """Forget what was staged on a partition (its commit failed, or the partition was lost)."""
        for aggregate_id in self._overlay.pop(part, {}):
            self._cache.pop(aggregate_id, None)

    def commit(self, part: int, changes: Changes) -> None:
        """Store what a transaction committed, all or nothing; staged snapshots now committed leave the overlay."""
        self.db.execute("BEGIN")
        try:
            self._write(part, changes)
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")
        staged = self._overlay.get(part, {})
        for aggregate_id, snapshot in changes.snapshots.items():
            if aggregate_id in staged and (snapshot is None or staged[aggregate_id].version <= snapshot.version):
                del staged[aggregate_id]
            self._remember(aggregate_id, snapshot)

    def expire(self, before: float) -> dict[int, list[str]]:
        """Delete the keys older than ``before`` (Unix time); the deleted keys by partition."""
        rows = self.db.execute("SELECT part, key FROM keys WHERE at < ?", (before,)).fetchall()
        self.db.execute("DELETE FROM keys WHERE at < ?", (before,))
        found: dict[int, list[str]] = {}
        for part, key in rows:
            found.setdefault(part, []).append(key)
        return found

    def close(self) -> None:
        """Close the database."""
        self.db.close()

    def _write(self, part: int, changes: Changes) -> None:
        """One statement per kind of change for the whole transaction (a batch holds hundreds of aggregates)."""
        snapshots = changes.snapshots.items()
        self.db.executemany("DELETE FROM idx WHERE id = ?", [(aggregate_id,) for aggregate_id, _ in snapshots])
        self.db.executemany("DELETE FROM aggregates WHERE id = ?", [(i,) for i, snapshot in snapshots if snapshot is None])
        self.db.executemany(
            "INSERT OR REPLACE INTO aggregates VALUES (?, ?, ?, ?, ?)",
            [(i, part, s.version, _json(s.state), _json(s.index)) for i, s in snapshots if s is not None],
        )
        self.db.executemany(
            "INSERT OR IGNORE INTO idx VALUES (?, ?, ?, ?)",
            [row for i, s in snapshots if s is not None for row in _rows(i, part, s)],
        )
        keys = changes.keys.items()
        self.db.executemany("DELETE FROM keys WHERE key = ?", [(key,) for key, kept in keys if kept is None])
        self.db.executemany(
            "INSERT OR REPLACE INTO keys VALUES (?, ?, ?, ?)", [(key, part, k[0], k[1]) for key, k in keys if k is not None]
        )
        if changes.checkpoint is not None:
            self.db.execute(
                "INSERT OR REPLACE INTO checkpoints VALUES (?, ?, ?)",
                (part, changes.checkpoint.changelog, _json(changes.checkpoint.events)),
            )

    def _remember(self, aggregate_id: str, snapshot: Snapshot | None) -> None:
        self._cache[aggregate_id] = snapshot
        self._cache.move_to_end(aggregate_id)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)


def _rows(aggregate_id: str, part: int, snapshot: Snapshot) -> Iterable[tuple[str, str, str, int]]:
    return ((name, value, aggregate_id, part) for name, values in snapshot.index.items() for value in values)


def _json(value: object) -> str:
    return jsoncodec.dumps_text(value)
