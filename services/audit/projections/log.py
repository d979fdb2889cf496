"""The audit log as the service keeps it: every record in the store (SQLite) and in its partition's tree.

The trees' nodes live in the same store (``merkle_nodes``); memory holds each tree's frontier and
a bounded cache only, and opening reads O(log n) nodes per log instead of every entry.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from services.audit.adapters import store
from services.audit.domain.entries import facts_of, redact
from services.audit.domain.merkle import Frontier, MerkleLogs
from shared.replay.records import Record
from shared.topics import position_key


NODE_BATCH = 10_000  # nodes written at a time when building an older database's nodes


class AuditLog:
    """Appends records to their partition's tree and the store, kept in step; resumed from the store on open."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db: sqlite3.Connection = store.connect(path)
        store.upgrade(self.db)
        self.logs = MerkleLogs()
        self.positions: dict[str, int] = {}
        self.reload()

    def reload(self) -> None:
        """Resume the trees (from their stored nodes) and positions (next offset by ``position_key``) from the store."""
        ends = store.log_ends(self.db)
        sizes = {log: size for log, (size, _) in ends.items()}
        built: set[str] = set()
        while True:
            try:
                self.logs = MerkleLogs(self._node, sizes)  # reads each log's frontier: log2(size) nodes
                break
            except KeyError as missing:  # a database from before the nodes were stored: build them, once
                log = missing.args[0][0]
                if log in built:
                    raise
                self._build_nodes(log)
                built.add(log)
        self.positions = {log: offset for log, (_, offset) in ends.items()}

    def _node(self, log: str, level: int, index: int) -> bytes:
        return store.node(self.db, log, level, index)

    def _build_nodes(self, log: str) -> None:
        """Store a log's nodes from its stored leaf hashes, streaming (the frontier is all that is held)."""
        frontier = Frontier()
        with store.transaction(self.db):
            pending: list[store.StoredNode] = []
            for leaf in store.leaf_hashes(self.db, log):
                pending += [(log, level, index, digest) for level, index, digest in frontier.append(leaf) if level]
                if len(pending) >= NODE_BATCH:
                    store.add_nodes(self.db, pending, replace=True)
                    pending = []
            store.add_nodes(self.db, pending, replace=True)

    def append(self, records: list[Record]) -> int:
        """Append records not yet logged (offset order within each partition); returns how many."""
        batch: list[store.NewEntry] = []
        try:
            for r in records:
                log = position_key(r.topic, r.partition)
                if r.offset < self.positions.get(log, 0):
                    continue  # already logged: a redelivery after a restart
                kept = redact(r.value)  # the leaf is what is kept: no secret ciphertext in the log, its proofs or dossiers
                index, leaf, root = self.logs.append(log, kept)
                batch.append(store.NewEntry(log, index, r.topic, r.partition, r.offset, kept, leaf, root, facts_of(r.value)))
                self.positions[log] = r.offset + 1
            store.append(self.db, batch, self.logs.take_new_nodes())
        except BaseException:
            self.reload()  # the trees must never run ahead of the store
            raise
        return len(batch)

    def close(self) -> None:
        """Close the database."""
        self.db.close()
