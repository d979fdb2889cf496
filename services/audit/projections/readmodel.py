"""The audit log as ``smguard replay`` compares it: one snapshot, from the live store or a scratch one.

Per log: size, root recomputed from the stored bytes, last offset, and a digest of every query
column, so a row changed in the store behind the system's back shows as a difference.
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from services.audit.adapters import store
from services.audit.domain.entries import canonical_json, facts_of, redact
from services.audit.domain.merkle import Frontier
from services.audit.domain.verifier import combined_root, leaf_hash
from services.audit.projections.log import AuditLog
from shared.replay.kit import DECODED
from shared.replay.records import Record
from shared.topics import position_key

Snapshot = dict[str, Any]
_DIGESTED = ("idx", "kafka_offset", "event_id", "type", "subject", "operator_id", "actor", "time", "incident_id", "data", "tenants")


def snapshot(rows: Iterable[Mapping[str, Any]], positions: Mapping[str, int] | None = None) -> Snapshot:
    """The read model of stored rows (log order); with ``positions`` only rows before them, of the logs named."""
    views: dict[str, LogView] = {}
    for row in rows:
        log = row["log"]
        if positions is not None and row["kafka_offset"] >= positions.get(log, 0):
            continue
        views.setdefault(log, LogView()).add(bytes(row["value"]), [row[c] for c in _DIGESTED])
    return _as_snapshot(views)


class LogView:
    """One log as the read model shows it, built row by row: its tree (frontier only), the digest of its query columns."""

    __slots__ = ("frontier", "digest", "last_offset")

    def __init__(self) -> None:
        self.frontier, self.digest, self.last_offset = Frontier(), hashlib.sha256(), -1

    def add(self, value: bytes, digested: list[Any]) -> None:
        """One more entry: its bytes (the leaf) and the ``_DIGESTED`` columns, as the store holds them."""
        self.frontier.append(leaf_hash(value))
        self.digest.update((canonical_json(digested) + "\n").encode())
        self.last_offset = digested[1]


def _as_snapshot(views: Mapping[str, LogView]) -> Snapshot:
    logs = {log: {"last_offset": v.last_offset, "size": v.frontier.size, "root": v.frontier.root().hex(),
                  "index_digest": v.digest.hexdigest()} for log, v in views.items()}  # fmt: skip
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
    """A replay's audit log: each record digested as the store would hold it, in memory (no files)."""

    def __init__(self) -> None:
        self._views: dict[str, LogView] = {}

    async def feed(self, record: Record) -> None:
        """Take in one record."""
        await self.feed_many([record])

    async def feed_many(self, records: Sequence[Record]) -> None:
        """Take in records of one partition, in offset order (decoded once with the other projections of the replay)."""
        for r in records:
            log = position_key(r.topic, r.partition)
            view = self._views.setdefault(log, LogView())
            facts = facts_of(r.value, decoder=DECODED)  # as the live log reads it: the value alone
            data = canonical_json(facts.data) if facts.data is not None else None
            view.add(redact(r.value), [view.frontier.size, r.offset, facts.event_id, facts.type, facts.subject,
                                       facts.operator_id, facts.actor, facts.time, facts.incident_id, data,
                                       ",".join(facts.tenants) or None])  # fmt: skip

    async def finish(self) -> Snapshot:
        """The same snapshot as the live read model."""
        return _as_snapshot(self._views)
