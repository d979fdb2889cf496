"""The audit log as the service keeps it: every record in its partition's tree (memory) and in the store (SQLite)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from services.audit.adapters import store
from services.audit.domain.entries import facts_of
from services.audit.domain.merkle import MerkleLogs
from shared.replay.records import Record
from shared.topics import position_key


class AuditLog:
    """Appends records to their partition's tree and the store, kept in step; rebuilt from the store on open."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db: sqlite3.Connection = store.connect(path)
        self.logs = MerkleLogs()
        self.positions: dict[str, int] = {}
        self.reload()

    def reload(self) -> None:
        """Rebuild the trees and resume positions (next offset by ``position_key``) from what the store holds."""
        self.logs = MerkleLogs()
        for entry in store.stored_entries(self.db):
            self.logs.append(entry.log, entry.value)
        self.positions = store.next_offsets(self.db)

    def append(self, records: list[Record]) -> int:
        """Append records not yet logged (offset order within each partition); returns how many."""
        batch: list[store.NewEntry] = []
        try:
            for r in records:
                log = position_key(r.topic, r.partition)
                if r.offset < self.positions.get(log, 0):
                    continue  # already logged: a redelivery after a restart
                index, leaf, root = self.logs.append(log, r.value)
                batch.append(store.NewEntry(log, index, r.topic, r.partition, r.offset, r.value, leaf, root, facts_of(r.value)))
                self.positions[log] = r.offset + 1
            store.append(self.db, batch)
        except BaseException:
            self.reload()  # the trees must never run ahead of the store
            raise
        return len(batch)

    def close(self) -> None:
        """Close the database."""
        self.db.close()
