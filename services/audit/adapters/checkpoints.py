"""Signed checkpoints in their own SQLite file: statements made at a time, kept across log rebuilds."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from services.audit.application.ports import Checkpoint, CheckpointStore


class SqliteCheckpointStore(CheckpointStore):
    """Checkpoints by sequence number, each the exact JSON that was signed plus its signature."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS checkpoints (seq INTEGER PRIMARY KEY, body TEXT NOT NULL)")

    def next_seq(self) -> int:
        """The number the next checkpoint gets."""
        return int(self.db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM checkpoints").fetchone()[0])

    def add(self, checkpoint: Checkpoint) -> None:
        """Keep a signed checkpoint."""
        self.db.execute("INSERT INTO checkpoints VALUES (?, ?)", (checkpoint["seq"], json.dumps(checkpoint)))

    def all(self, *, limit: int = 1000, after: int = 0) -> list[Checkpoint]:
        """Checkpoints in order."""
        rows = self.db.execute("SELECT body FROM checkpoints WHERE seq > ? ORDER BY seq LIMIT ?", (after, limit))
        return [json.loads(r[0]) for r in rows]

    def get(self, seq: int) -> Checkpoint | None:
        """One checkpoint."""
        row = self.db.execute("SELECT body FROM checkpoints WHERE seq = ?", (seq,)).fetchone()
        return json.loads(row[0]) if row else None

    def latest(self) -> Checkpoint | None:
        """The newest checkpoint."""
        row = self.db.execute("SELECT body FROM checkpoints ORDER BY seq DESC LIMIT 1").fetchone()
        return json.loads(row[0]) if row else None

    def close(self) -> None:
        """Close the database."""
        self.db.close()
