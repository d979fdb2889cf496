"""What readers ask of the audit log's SQLite file: filtered pages of entries, and the rows a dossier is made of.

Each entry comes as the API shows it (``store.public``) with ``tenants``, the operators it concerns.
Who may see what is decided by the caller (``services.audit.application.queries``), not here.
"""

from __future__ import annotations

import sqlite3
from typing import Any, Iterable

from services.audit.adapters.store import public
from services.audit.domain.entries import EntryFilter, time_key

Entry = dict[str, Any]
_SELECT = """SELECT e.*, (SELECT GROUP_CONCAT(operator_id, ',') FROM entry_tenants t
 WHERE t.log = e.log AND t.idx = e.idx) AS tenants FROM entries e"""
_OF_TENANT = "EXISTS (SELECT 1 FROM entry_tenants t WHERE t.log = e.log AND t.idx = e.idx AND t.operator_id = ?)"


def select_entries(
    db: sqlite3.Connection, f: EntryFilter, *, tenant: str | None, limit: int, start: int
) -> list[Entry]:
    """Up to ``limit`` entries matching ``f`` in time order from ``start``; with ``tenant``, only those concerning it."""
    where, args = ["1 = 1"], []
    for column in ("subject", "operator_id", "type", "actor"):
        if getattr(f, column) is not None:
            where.append(f"e.{column} = ?")
            args.append(getattr(f, column))
    if f.since:
        where.append("e.time >= ?")
        args.append(time_key(f.since))
    if f.until:
        where.append("e.time <= ?")
        args.append(time_key(f.until))
    if tenant is not None:
        where.append(_OF_TENANT)
        args.append(tenant)
    sql = f"{_SELECT} WHERE {' AND '.join(where)} ORDER BY e.time, e.log, e.idx LIMIT ? OFFSET ?"
    return [_with_tenants(r) for r in db.execute(sql, [*args, limit, start])]


def naming_incident(db: sqlite3.Connection, incident_id: str) -> list[Entry]:
    """The incident's own entries and every entry whose event names it (``data.incident_id``)."""
    return _rows(db, "e.subject = ? OR e.incident_id = ?", [incident_id, incident_id])


def of_subjects(db: sqlite3.Connection, topic: str, subjects: Iterable[str]) -> list[Entry]:
    """Every entry of these aggregates (subjects) of one topic."""
    values = sorted(subjects)
    if not values:
        return []
    return _rows(db, f"e.topic = ? AND e.subject IN ({_marks(values)})", [topic, *values])


def connection_owners(db: sqlite3.Connection, topic: str, connection_ids: Iterable[str]) -> dict[str, str]:
    """The operator of each of these connections, from its events (connections with no event are left out)."""
    values = sorted(connection_ids)
    if not values:
        return {}
    sql = f"SELECT DISTINCT subject, operator_id FROM entries WHERE topic = ? AND subject IN ({_marks(values)})"
    return {row[0]: row[1] for row in db.execute(sql, [topic, *values]) if row[1]}


def notifications_queued_about(db: sqlite3.Connection, topic: str, refs: Iterable[str]) -> list[Entry]:
    """``NotificationQueued`` entries whose ``subject_id`` or ``domain_event_id`` is one of ``refs``."""
    values = sorted(refs)
    if not values:
        return []
    marks = _marks(values)
    return _rows(
        db,
        f"e.topic = ? AND e.type = 'NotificationQueued' AND (json_extract(e.data, '$.subject_id') IN ({marks})"
        f" OR json_extract(e.data, '$.domain_event_id') IN ({marks}))",
        [topic, *values, *values],
    )


def _rows(db: sqlite3.Connection, where: str, args: list[Any]) -> list[Entry]:
    return [_with_tenants(r) for r in db.execute(f"{_SELECT} WHERE {where}", args)]


def _marks(values: list[str]) -> str:
    return ", ".join("?" * len(values))


def _with_tenants(row: sqlite3.Row) -> Entry:
    return {**public(row), "tenants": sorted(row["tenants"].split(",")) if row["tenants"] else []}
