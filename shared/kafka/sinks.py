"""Where a subscriber's events land: a sink applies each event once and says where to resume."""

from __future__ import annotations

import abc
import json
import sqlite3
from pathlib import Path

from aiokafka import TopicPartition

from shared.envelope import Envelope


class Sink(abc.ABC):
    """Applies events once each; remembers applied event ids and where to resume per partition."""

    @abc.abstractmethod
    def resume_positions(self) -> dict[TopicPartition, int]:
        """The next offset to read per partition; partitions not named start from the beginning."""

    @abc.abstractmethod
    def already_applied(self, event_id: str) -> bool:
        """Whether this event id was applied before (a redelivery, or a duplicate record)."""

    @abc.abstractmethod
    async def apply(self, envelope: Envelope, *, resume_at: int) -> None:
        """Apply one event and record its id and ``resume_at`` for its partition, all or nothing."""


class MemorySink(Sink):
    """A sink whose state lives in memory: rebuilt from the beginning of the topics on each start."""

    def __init__(self) -> None:
        self._applied: set[str] = set()
        self._positions: dict[TopicPartition, int] = {}

    def resume_positions(self) -> dict[TopicPartition, int]:
        """Where this process has got to."""
        return dict(self._positions)

    def already_applied(self, event_id: str) -> bool:
        """Whether the id was applied."""
        return event_id in self._applied

    async def apply(self, envelope: Envelope, *, resume_at: int) -> None:
        """Run ``handle``; mark the event applied only when it succeeded."""
        await self.handle(envelope)
        self._applied.add(envelope.id)
        if envelope.position:
            self._positions[TopicPartition(envelope.position.topic, envelope.position.partition)] = resume_at

    @abc.abstractmethod
    async def handle(self, envelope: Envelope) -> None:
        """What the event does to this sink's state."""


class SqliteSink(Sink):
    """A durable sink: the view, the applied ids and the positions change in one SQLite transaction."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS applied (event_id TEXT PRIMARY KEY)")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS positions (topic TEXT, part INTEGER, next_offset INTEGER,"
            " PRIMARY KEY (topic, part))"
        )
        self.create_schema(self.db)

    def create_schema(self, db: sqlite3.Connection) -> None:
        """Create the view's tables (subclasses)."""

    def resume_positions(self) -> dict[TopicPartition, int]:
        """Positions saved with the last applied events."""
        rows = self.db.execute("SELECT topic, part, next_offset FROM positions").fetchall()
        return {TopicPartition(topic, part): offset for topic, part, offset in rows}

    def already_applied(self, event_id: str) -> bool:
        """Whether the id is in the applied table."""
        return self.db.execute("SELECT 1 FROM applied WHERE event_id = ?", (event_id,)).fetchone() is not None

    async def apply(self, envelope: Envelope, *, resume_at: int) -> None:
        """Apply, record the id and the position, commit — or roll all of it back."""
        self.db.execute("BEGIN")
        try:
            self.handle(self.db, envelope)
            self.db.execute("INSERT INTO applied VALUES (?)", (envelope.id,))
            if envelope.position:
                self.db.execute(
                    "INSERT OR REPLACE INTO positions VALUES (?, ?, ?)",
                    (envelope.position.topic, envelope.position.partition, resume_at),
                )
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    @abc.abstractmethod
    def handle(self, db: sqlite3.Connection, envelope: Envelope) -> None:
        """What the event does to the view, inside the open transaction."""

    def close(self) -> None:
        """Close the database."""
        self.db.close()


def as_json(value: object) -> str:
    """JSON text for a view column, UTF-8 kept readable."""
    return json.dumps(value, ensure_ascii=False, default=str)
