"""The audit service's read model as a JSON-able snapshot: what ``smguard replay`` compares."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from pymerkle import InmemoryTree

from services.audit.adapters import store
from services.audit.domain.entries import canonical_json
from services.audit.verifier import combined_root

_ROWS = """
SELECT e.log, e.idx, e.kafka_offset, e.value, e.event_id, e.type, e.subject, e.operator_id, e.actor, e.time,
       e.incident_id, e.data,
       (SELECT GROUP_CONCAT(operator_id, ',') FROM
          (SELECT operator_id FROM entry_tenants t WHERE t.log = e.log AND t.idx = e.idx ORDER BY operator_id)) AS tenants
FROM entries e ORDER BY e.log, e.idx
"""


def read_model_of(path: Path, positions: dict[str, int] | None = None) -> dict[str, Any]:
    """Per log: size, root recomputed from the stored bytes, last offset, and a digest of the query columns.

    With ``positions`` (next offset per log), only records before them count, and logs not named
    are left out: the snapshot is then exactly "the stream up to these positions".
    """
    db = store.connect(path)
    try:
        logs: dict[str, dict[str, Any]] = {}
        trees: dict[str, InmemoryTree] = {}
        digests: dict[str, Any] = {}
        for row in db.execute(_ROWS):
            log = row["log"]
            if positions is not None and row["kafka_offset"] >= positions.get(log, 0):
                continue
            trees.setdefault(log, InmemoryTree()).append_entry(bytes(row["value"]))
            digests.setdefault(log, hashlib.sha256()).update(_row_line(row))
            logs[log] = {"last_offset": row["kafka_offset"]}
    finally:
        db.close()
    for log, view in logs.items():
        view.update(size=trees[log].get_size(), root=trees[log].get_root().hex(), index_digest=digests[log].hexdigest())
    heads = {log: {"size": v["size"], "root": v["root"]} for log, v in logs.items()}
    return {"audit_log": {"size": sum(v["size"] for v in logs.values()), "root": combined_root(heads), "logs": logs}}


def _row_line(row: Any) -> bytes:
    fields = [row["idx"], row["kafka_offset"], row["event_id"], row["type"], row["subject"], row["operator_id"],
              row["actor"], row["time"], row["incident_id"], row["data"], row["tenants"]]
    return (canonical_json(fields) + "\n").encode()
