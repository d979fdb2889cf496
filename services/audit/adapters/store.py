"""The audit log's SQLite file: entries with their hashes, tenants for scoping, Merkle nodes, and the reads of it.

``merkle_nodes`` holds every complete subtree node of level 1 and up of each log's tree (see
``services.audit.domain.merkle``), written in the transaction of the entries that complete it; the
level 0 nodes are the entries' ``leaf_hash``. Each read here is a primary key look-up or range, so
opening the log costs O(logs × log n), not a pass over the history.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from services.audit.domain.entries import EntryFacts, canonical_json
from services.audit.domain.integrity import StoredEntry

SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
  log TEXT NOT NULL, idx INTEGER NOT NULL, topic TEXT NOT NULL, part INTEGER NOT NULL,
  kafka_offset INTEGER NOT NULL, value BLOB NOT NULL, leaf_hash BLOB NOT NULL, root_after BLOB NOT NULL,
  event_id TEXT, type TEXT, subject TEXT, operator_id TEXT, actor TEXT, time TEXT, incident_id TEXT,
  data TEXT, PRIMARY KEY (log, idx));
CREATE INDEX IF NOT EXISTS entries_subject ON entries (subject);
CREATE INDEX IF NOT EXISTS entries_incident ON entries (incident_id);
CREATE INDEX IF NOT EXISTS entries_time ON entries (time, log, idx);
CREATE INDEX IF NOT EXISTS entries_event ON entries (event_id);
CREATE TABLE IF NOT EXISTS entry_tenants (log TEXT, idx INTEGER, operator_id TEXT, PRIMARY KEY (log, idx, operator_id));
CREATE INDEX IF NOT EXISTS tenants_operator ON entry_tenants (operator_id);
CREATE TABLE IF NOT EXISTS merkle_nodes (
  log TEXT NOT NULL, level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL,
  PRIMARY KEY (log, level, idx)) WITHOUT ROWID;
"""
SNAPSHOT_ROWS = """
SELECT e.log, e.idx, e.kafka_offset, e.value, e.event_id, e.type, e.subject, e.operator_id, e.actor, e.time,
       e.incident_id, e.data,
       (SELECT GROUP_CONCAT(operator_id, ',') FROM
          (SELECT operator_id FROM entry_tenants t WHERE t.log = e.log AND t.idx = e.idx ORDER BY operator_id)) AS tenants
FROM entries e ORDER BY e.log, e.idx
"""
COLUMNS = ("log, idx, topic, part, kafka_offset, value, leaf_hash, root_after, event_id, type, subject,"
           " operator_id, actor, time, incident_id, data")


@dataclass(frozen=True, slots=True)
class NewEntry:
    """A record appended to a log, with the hashes computed on append."""

    log: str
    index: int
    topic: str
    partition: int
    offset: int
    value: bytes
    leaf_hash: bytes
    root_after: bytes
    facts: EntryFacts


StoredNode = tuple[str, int, int, bytes]
"""A Merkle node as stored: ``(log, level, index, hash)``."""


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating) the audit log database."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(SCHEMA)
    db.row_factory = sqlite3.Row
    return db


@contextmanager
def opened(path: Path) -> Iterator[sqlite3.Connection]:
    """A connection of its own (for reading the whole log in another thread), closed after use."""
    with closing(connect(path)) as db:
        yield db


LEAF_FORMAT = 1
"""What the stored leaves are (``PRAGMA user_version``): 1 = record values with secret ciphertext left out."""


def upgrade(db: sqlite3.Connection) -> None:
    """A log stored in an older leaf format is emptied, to be rebuilt from the topics (it may hold ciphertext)."""
    if db.execute("PRAGMA user_version").fetchone()[0] >= LEAF_FORMAT:
        return
    with transaction(db):
        for table in ("entries", "entry_tenants", "merkle_nodes"):
            db.execute(f"DELETE FROM {table}")
        db.execute(f"PRAGMA user_version = {LEAF_FORMAT}")
    db.execute("VACUUM")  # the deleted pages, ciphertext included, do not stay in the file


def append(db: sqlite3.Connection, entries: list[NewEntry], nodes: Iterable[StoredNode] = ()) -> None:
    """Insert a batch, with the Merkle nodes it completes, in one transaction."""
    with transaction(db):
        for e in entries:
            f = e.facts
            data = canonical_json(f.data) if f.data is not None else None
            db.execute(
                f"INSERT INTO entries ({COLUMNS}) VALUES ({', '.join('?' * 16)})",
                (e.log, e.index, e.topic, e.partition, e.offset, e.value, e.leaf_hash, e.root_after,
                 f.event_id, f.type, f.subject, f.operator_id, f.actor, f.time, f.incident_id, data),
            )
            db.executemany("INSERT INTO entry_tenants VALUES (?, ?, ?)", [(e.log, e.index, t) for t in f.tenants])
        add_nodes(db, nodes)


def add_nodes(db: sqlite3.Connection, nodes: Iterable[StoredNode], *, replace: bool = False) -> None:
    """Insert Merkle nodes ``(log, level, index, hash)`` (level 0 is skipped: it is the entries' leaf hash)."""
    verb = "INSERT OR REPLACE" if replace else "INSERT"
    db.executemany(f"{verb} INTO merkle_nodes VALUES (?, ?, ?, ?)", (n for n in nodes if n[1] > 0))


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[None]:
    """One write transaction: committed on success, rolled back on any failure."""
    db.execute("BEGIN")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def node(db: sqlite3.Connection, log: str, level: int, index: int) -> bytes:
    """One complete subtree node of a log's tree; ``KeyError`` when it is not stored."""
    if level == 0:
        row = db.execute("SELECT leaf_hash FROM entries WHERE log = ? AND idx = ?", (log, index)).fetchone()
    else:
        row = db.execute("SELECT hash FROM merkle_nodes WHERE log = ? AND level = ? AND idx = ?", (log, level, index)).fetchone()
    if row is None:
        raise KeyError((log, level, index))
    return bytes(row[0])


def leaf_hashes(db: sqlite3.Connection, log: str, *, page: int = 10_000) -> Iterator[bytes]:
    """A log's leaf hashes in index order, read a page at a time (to build its nodes without holding them)."""
    after = -1
    while True:
        rows = db.execute(
            "SELECT idx, leaf_hash FROM entries WHERE log = ? AND idx > ? ORDER BY idx LIMIT ?", (log, after, page)
        ).fetchall()
        if not rows:
            return
        for _, digest in rows:
            yield bytes(digest)
        after = rows[-1][0]


def log_ends(db: sqlite3.Connection) -> dict[str, tuple[int, int]]:
    """Per log: its size (leaves) and the offset after its last stored record, by index look-ups only."""
    ends: dict[str, tuple[int, int]] = {}
    log = ""
    while True:  # a skip-scan of the primary key: one look-up per log, not one row per entry
        row = db.execute("SELECT log FROM entries WHERE log > ? ORDER BY log LIMIT 1", (log,)).fetchone()
        if row is None:
            return ends
        log = row[0]
        last = db.execute("SELECT idx, kafka_offset FROM entries WHERE log = ? ORDER BY idx DESC LIMIT 1", (log,)).fetchone()
        ends[log] = (last[0] + 1, last[1] + 1)


def stored_entries(db: sqlite3.Connection) -> Iterator[StoredEntry]:
    """Every entry in log order, as stored (for recomputation)."""
    rows = db.execute("SELECT log, idx, kafka_offset, value, leaf_hash, root_after FROM entries ORDER BY log, idx")
    return map(StoredEntry._make, rows)  # BLOBs come as bytes already


SCAN_MAP_BYTES = 1 << 30
SCAN_CACHE_KIB = 64 * 1024


def for_scanning(db: sqlite3.Connection) -> None:
    """Tune a connection of its own for one pass over the whole log: the file mapped, a large page cache."""
    db.execute(f"PRAGMA mmap_size = {SCAN_MAP_BYTES}")
    db.execute(f"PRAGMA cache_size = -{SCAN_CACHE_KIB}")


def next_offsets(db: sqlite3.Connection) -> dict[str, int]:
    """Per log, the offset after the last stored record (where to resume; offsets grow with the index)."""
    return {log: offset for log, (_, offset) in log_ends(db).items()}


def snapshot_rows(db: sqlite3.Connection) -> Iterator[sqlite3.Row]:
    """Every entry in log order with its query columns and sorted tenants (what the read model digests)."""
    yield from db.execute(SNAPSHOT_ROWS)


def public(row: sqlite3.Row) -> dict[str, Any]:
    """An entry as the API shows it."""
    return {
        "entry": f"{row['topic']}:{row['part']}:{row['kafka_offset']}",
        "log": row["log"], "index": row["idx"], "topic": row["topic"], "partition": row["part"],
        "offset": row["kafka_offset"], "event_id": row["event_id"], "type": row["type"],
        "subject": row["subject"], "operator_id": row["operator_id"], "actor": row["actor"],
        "time": row["time"], "leaf_hash": bytes(row["leaf_hash"]).hex(),
        "data": json.loads(row["data"]) if row["data"] else None,
    }


def find_entry(db: sqlite3.Connection, ident: str) -> tuple[dict[str, Any], bytes] | None:
    """An entry (as the API shows it) and its bytes, by ``topic:partition:offset``, ``log#index`` or event id."""
    row = _find_row(db, ident)
    return (public(row), bytes(row["value"])) if row is not None else None


def _find_row(db: sqlite3.Connection, ident: str) -> sqlite3.Row | None:
    if "#" in ident:
        log, _, index = ident.rpartition("#")
        return db.execute("SELECT * FROM entries WHERE log = ? AND idx = ?", (log, _int(index))).fetchone()
    topic, _, rest = ident.partition(":")
    part, _, offset = rest.partition(":")
    if offset:
        row = db.execute(
            "SELECT * FROM entries WHERE topic = ? AND part = ? AND kafka_offset = ?", (topic, _int(part), _int(offset))
        ).fetchone()
        if row is not None:
            return row
    return db.execute("SELECT * FROM entries WHERE event_id = ? ORDER BY log, idx LIMIT 1", (ident,)).fetchone()


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return -1
