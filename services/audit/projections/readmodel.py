"""The audit log as ``smguard replay`` compares it: one snapshot, from the live store or a scratch one.

Per log: size, root recomputed from the stored bytes, last offset, and a digest of every query
column, so a row changed in the store behind the system's back shows as a difference.
"""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
from pathlib import Path
from typing import Any, Iterable, Mapping

from pymerkle import InmemoryTree

from services.audit.adapters import store
from services.audit.domain.entries import canonical_json
from services.audit.domain.verifier import combined_root
from services.audit.projections.log import AuditLog
from shared.replay.records import Record

Snapshot = dict[str, Any]
SCRATCH_BATCH = 1000
_DIGESTED = ("idx", "kafka_offset", "event_id", "type", "subject", "operator_id", "actor", "time", "incident_id", "data", "tenants")


def snapshot(rows: Iterable[Mapping[str, Any]], positions: Mapping[str, int] | None = None) -> Snapshot:
    """The read model of stored rows (log order); with ``positions`` only rows before them, of the logs named."""
    logs: dict[str, dict[str, Any]] = {}
    trees: dict[str, InmemoryTree] = {}
    digests: dict[str, Any] = {}
    for row in rows:
        log = row["log"]
        if positions is not None and row["kafka_offset"] >= positions.get(log, 0):
            continue
        trees.setdefault(log, InmemoryTree()).append_entry(bytes(row["value"]))
        digests.setdefault(log, hashlib.sha256()).update((canonical_json([row[c] for c in _DIGESTED]) + "\n").encode())
        logs[log] = {"last_offset": row["kafka_offset"]}
    for log, view in logs.items():
        view.update(size=trees[log].get_size(), root=trees[log].get_root().hex(), index_digest=digests[log].hexdigest())
    heads = {log: {"size": v["size"], "root": v["root"]} for log, v in logs.items()}
    return {"audit_log": {"size": sum(v["size"] for v in logs.values()), "root": combined_root(heads), "logs": logs}}


def read_model_of(path: Path, positions: Mapping[str, int] | None = None) -> Snapshot:
    """The snapshot of the store at ``path``, read with a connection of its own."""
    with store.opened(path) as db:
        return snapshot(store.snapshot_rows(db), positions)


class LiveAuditLog:
    """The running service's audit log for ``GET /ops/read-model`` (``runtime.expose``)."""

    def __init__(self, audit_log: AuditLog) -> None:
        self._log = audit_log

    async def take(self) -> Snapshot:
        """``{"positions": …, "read_models": …}``: the positions first, then only the rows before them."""
        positions = dict(self._log.positions)  # no await before this copy: the rows below cover at least these
        model = await asyncio.to_thread(read_model_of, self._log.path, positions)
        return {"positions": positions, "read_models": model}


class ScratchAuditLog:
    """A replay's audit log: raw records appended in a temporary folder, removed when it finishes."""

    def __init__(self) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="smguard-replay-audit-")
        self._log = AuditLog(Path(self._folder.name) / "audit-log.sqlite")
        self._pending: list[Record] = []

    async def feed(self, record: Record) -> None:
        """Take in one record (appended in batches: one store transaction per batch)."""
        self._pending.append(record)
        if len(self._pending) >= SCRATCH_BATCH:
            self._flush()

    async def finish(self) -> Snapshot:
        """The same snapshot as the live read model; the scratch files are gone afterwards."""
        try:
            self._flush()
            return read_model_of(self._log.path)
        finally:
            self._log.close()
            self._folder.cleanup()

    def _flush(self) -> None:
        self._log.append(self._pending)
        self._pending = []
