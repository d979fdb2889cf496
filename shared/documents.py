"""Durable read models: JSON documents in SQLite, changed in the same transaction as the resume offset.

A projection folds events into documents (``DocumentSink.fold``); each event is applied in one
SQLite transaction together with its id (to recognise a redelivery within the window) and the
offset to resume from, so a restart resumes where it stopped and never applies an event twice.
Documents are found by key, or by tags (``query``) in the order of their sort value; the items a
document gathers without bound (an incident's anomalies) are rows of their own (``add_item``).
"""

from __future__ import annotations

import abc
import asyncio
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

from aiokafka import TopicPartition

from shared import jsoncodec
from shared.envelope import Envelope
from shared.kafka.sinks import Sink

SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (coll TEXT NOT NULL, key TEXT NOT NULL, doc TEXT NOT NULL, sort TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (coll, key));
CREATE INDEX IF NOT EXISTS docs_sort ON docs (coll, sort);
CREATE TABLE IF NOT EXISTS tags (coll TEXT NOT NULL, key TEXT NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL,
  PRIMARY KEY (coll, name, value, key));
CREATE INDEX IF NOT EXISTS tags_key ON tags (coll, key);
CREATE TABLE IF NOT EXISTS items (coll TEXT NOT NULL, key TEXT NOT NULL, seq INTEGER NOT NULL, item TEXT NOT NULL,
  PRIMARY KEY (coll, key, seq));
CREATE TABLE IF NOT EXISTS applied (event_id TEXT PRIMARY KEY, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS applied_at ON applied (at);
CREATE TABLE IF NOT EXISTS positions (topic TEXT NOT NULL, part INTEGER NOT NULL, next_offset INTEGER NOT NULL,
  PRIMARY KEY (topic, part));
"""
Tags = Mapping[str, str | Iterable[str] | None]


class Documents:
    """The documents of one store, read and written inside the transaction of the event being applied."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self._held: dict[tuple[str, str], _Held] | None = None  # a batch's documents, written at its end

    def get(self, coll: str, key: str) -> dict[str, Any] | None:
        """A document, or None."""
        if self._held is not None and (coll, key) in self._held:
            return self._held[(coll, key)].doc
        row = self.db.execute("SELECT doc FROM docs WHERE coll = ? AND key = ?", (coll, key)).fetchone()
        doc = jsoncodec.loads(row[0]) if row else None
        if self._held is not None and doc is not None:
            self._held[(coll, key)] = _Held(doc)
        return doc

    def put(self, coll: str, key: str, doc: dict[str, Any], *, sort: str = "", tags: Tags | None = None) -> None:
        """Write a document; ``tags`` (name → value or values) are what ``query`` filters by; ``sort`` orders it."""
        if self._held is not None:  # in a batch: written once, at its end, however often it changed
            held = self._held.get((coll, key))
            retag = tags if tags is not None else (held.tags if held is not None else None)
            self._held[(coll, key)] = _Held(doc, dirty=True, sort=sort, tags=retag)
            return
        self._write(coll, key, doc, sort, tags)

    def _write(self, coll: str, key: str, doc: dict[str, Any], sort: str, tags: Tags | None) -> None:
        self.db.execute("INSERT OR REPLACE INTO docs VALUES (?, ?, ?, ?)", (coll, key, _json(doc), sort))
        if tags is not None:
            self.db.execute("DELETE FROM tags WHERE coll = ? AND key = ?", (coll, key))
            self.db.executemany("INSERT OR IGNORE INTO tags VALUES (?, ?, ?, ?)", _tag_rows(coll, key, tags))

    def hold(self) -> None:
        """Start a batch: documents read or written stay decoded in memory until ``write_held``."""
        self._held = {}

    def write_held(self) -> None:
        """Write the batch's changed documents (inside the open transaction); the batch goes on."""
        if self._held:
            for (coll, key), held in self._held.items():
                if held.dirty:
                    self._write(coll, key, held.doc, held.sort, held.tags)
            self._held = {}

    def release(self) -> None:
        """End the batch (what was held and not written is dropped: the transaction rolls back)."""
        self._held = None

    def delete(self, coll: str, key: str) -> None:
        """Remove a document, its tags and its items."""
        if self._held is not None:
            self._held.pop((coll, key), None)
        for table in ("docs", "tags", "items"):
            self.db.execute(f"DELETE FROM {table} WHERE coll = ? AND key = ?", (coll, key))

    def add_item(self, coll: str, key: str, item: dict[str, Any]) -> int:
        """Append an item to a document's list of items; returns its number (1, 2, …)."""
        row = self.db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM items WHERE coll = ? AND key = ?", (coll, key)).fetchone()
        self.db.execute("INSERT INTO items VALUES (?, ?, ?, ?)", (coll, key, row[0], _json(item)))
        return int(row[0])

    def items(self, coll: str, key: str, *, offset: int = 0, limit: int = 100, newest_first: bool = False) -> list[dict[str, Any]]:
        """A page of a document's items in the order they were added (or newest first)."""
        order = "DESC" if newest_first else "ASC"
        rows = self.db.execute(
            f"SELECT item FROM items WHERE coll = ? AND key = ? ORDER BY seq {order} LIMIT ? OFFSET ?",
            (coll, key, limit, offset),
        )
        return [jsoncodec.loads(r[0]) for r in rows]

    def count_items(self, coll: str, key: str) -> int:
        """How many items a document has."""
        return int(self.db.execute("SELECT COUNT(*) FROM items WHERE coll = ? AND key = ?", (coll, key)).fetchone()[0])

    def query(
        self, coll: str, *, where: Tags | None = None, offset: int = 0, limit: int = 100, newest_first: bool = True
    ) -> tuple[list[dict[str, Any]], int]:
        """A page of the documents whose tags match every ``where`` value (a list: any of them), and how many match."""
        self.write_held()
        clauses, args = ["d.coll = ?"], [coll]
        for name, wanted in (where or {}).items():
            if wanted is None:
                continue
            values = [wanted] if isinstance(wanted, str) else list(wanted)
            marks = ", ".join("?" * len(values))
            # Driven by the tags' primary key (coll, name, value, key): the cost follows the matches, not the collection.
            clauses.append(f"d.key IN (SELECT t.key FROM tags t WHERE t.coll = ? AND t.name = ? AND t.value IN ({marks}))")
            args += [coll, name, *values]
        condition, tagged = " AND ".join(clauses), len(clauses) > 1
        total = self.db.execute(f"SELECT COUNT(*) FROM docs d WHERE {condition}", args).fetchone()[0]
        order = "DESC" if newest_first else "ASC"
        # With tags, "+d.sort": do not walk the sort index to save the sorting. With a LIMIT, SQLite would otherwise
        # read the whole collection in order, testing each document against the tags: an incident without blocks
        # cost a scan of every block there is (18 ms at 120,000, growing with history). So the matches are found
        # through the tags' key and only they are sorted: the cost follows the matches. Without tags, the index
        # walk is the right plan (it stops after the page).
        sort = "+d.sort" if tagged else "d.sort"
        rows = self.db.execute(
            f"SELECT doc FROM docs d WHERE {condition} ORDER BY {sort} {order}, d.key {order} LIMIT ? OFFSET ?",
            [*args, limit, offset],
        )
        return [jsoncodec.loads(r[0]) for r in rows], int(total)

    def every(self, coll: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every document of a collection by key (for snapshots and tools)."""
        self.write_held()
        for key, doc in self.db.execute("SELECT key, doc FROM docs WHERE coll = ? ORDER BY key", (coll,)):
            yield key, jsoncodec.loads(doc)


class DocumentSink(Sink):
    """A projection kept in SQLite: ``fold`` changes documents; the event id and resume offset commit with it."""

    def __init__(self, path: Path, *, window_seconds: float = 7 * 86400) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        self.docs = Documents(self.db)
        self.window = window_seconds
        self._changed: asyncio.Condition | None = None

    @abc.abstractmethod
    def fold(self, docs: Documents, envelope: Envelope) -> None:
        """What one event does to the documents (inside the open transaction)."""

    def resume_positions(self) -> dict[TopicPartition, int]:
        """Where each partition resumes: after the last event applied."""
        rows = self.db.execute("SELECT topic, part, next_offset FROM positions").fetchall()
        return {TopicPartition(topic, part): offset for topic, part, offset in rows}

    def already_applied(self, event_id: str) -> bool:
        """Whether the event was applied within the window."""
        return self.db.execute("SELECT 1 FROM applied WHERE event_id = ?", (event_id,)).fetchone() is not None

    async def apply(self, envelope: Envelope, *, resume_at: int) -> None:
        """Fold, record the id and the position, commit — or roll all of it back (a batch of one)."""
        await self.apply_many([(envelope, resume_at)])

    async def apply_many(self, batch: list[tuple[Envelope, int]]) -> None:
        """Fold a batch in one transaction, each document decoded and encoded once — or none of it."""
        positions: dict[tuple[str, int], int] = {}
        self.db.execute("BEGIN")
        self.docs.hold()
        try:
            for envelope, resume_at in batch:
                self.fold(self.docs, envelope)
                if envelope.position:
                    positions[(envelope.position.topic, envelope.position.partition)] = resume_at
            self.docs.write_held()
            now = time.time()
            self.db.executemany("INSERT OR REPLACE INTO applied VALUES (?, ?)", [(e.id, now) for e, _ in batch])
            self.db.executemany("INSERT OR REPLACE INTO positions VALUES (?, ?, ?)", [(*tp, at) for tp, at in positions.items()])
        except BaseException:
            self.docs.release()
            self.db.execute("ROLLBACK")
            raise
        self.docs.release()
        self.db.execute("COMMIT")
        await self._notify()

    async def _notify(self) -> None:
        if self._changed is not None:
            async with self._changed:
                self._changed.notify_all()

    async def wait_for(self, check: Callable[[Documents], bool], *, timeout: float = 5.0) -> bool:
        """Wait until ``check(docs)`` holds (read your own writes once they are applied); False on timeout."""
        if self._changed is None:
            self._changed = asyncio.Condition()
        try:
            async with self._changed:
                await asyncio.wait_for(self._changed.wait_for(lambda: check(self.docs)), timeout)
            return True
        except TimeoutError:
            return check(self.docs)

    def forget_applied(self) -> int:
        """Drop the applied event ids older than the window; how many."""
        cursor = self.db.execute("DELETE FROM applied WHERE at < ?", (time.time() - self.window,))
        return cursor.rowcount

    def close(self) -> None:
        """Close the database."""
        self.db.close()


@dataclass
class _Held:
    """A document of the batch under way: decoded once, encoded once when the batch is written."""

    doc: dict[str, Any]
    dirty: bool = False
    sort: str = ""
    tags: Tags | None = None


def _tag_rows(coll: str, key: str, tags: Tags) -> Iterator[tuple[str, str, str, str]]:
    for name, value in tags.items():
        if value is None:
            continue
        for one in [value] if isinstance(value, str) else value:
            yield coll, key, name, str(one)


def _json(value: object) -> str:
    return jsoncodec.dumps_text(value)
