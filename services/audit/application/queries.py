"""Reading the audit log: filtered, tenant-scoped entry lists and incident dossiers."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.audit.adapters.store import public
from services.audit.domain import dossier as story
from services.audit.domain.entries import time_key
from shared.auth import Principal
from shared.envelope import utcnow
from shared.domain import not_found
from shared.topics import CONNECTION_EVENTS, NOTIFICATION_EVENTS

_SELECT = """SELECT e.*, (SELECT GROUP_CONCAT(operator_id, ',') FROM entry_tenants t
 WHERE t.log = e.log AND t.idx = e.idx) AS tenants FROM entries e"""


@dataclass(frozen=True, slots=True)
class EntryFilter:
    """What ``GET /audit/entries`` may filter by."""

    subject: str | None = None
    operator_id: str | None = None
    type: str | None = None
    actor: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def list_entries(db: sqlite3.Connection, f: EntryFilter, principal: Principal, *, limit: int, start: int) -> dict[str, Any]:
    """One page of entries in time order; an operator sees only entries that concern its tenant."""
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
    if principal.role == "operator":
        where.append("EXISTS (SELECT 1 FROM entry_tenants t WHERE t.log = e.log AND t.idx = e.idx AND t.operator_id = ?)")
        args.append(principal.operator_id)
    sql = f"{_SELECT} WHERE {' AND '.join(where)} ORDER BY e.time, e.log, e.idx LIMIT ? OFFSET ?"
    rows = db.execute(sql, [*args, limit + 1, start]).fetchall()
    items = [_with_tenants(r) for r in rows[:limit]]
    return {"items": items, "start": start, "limit": limit, "next": start + limit if len(rows) > limit else None}


def dossier(db: sqlite3.Connection, incident_id: str, principal: Principal) -> dict[str, Any]:
    """The incident's story in order; 404 when it is unknown or another operator's."""
    named = _rows(db, "e.subject = ? OR e.incident_id = ?", [incident_id, incident_id])
    own = [e for e in named if e["subject"] == incident_id and e["type"]]
    if not own or not principal.may_see_any(sorted({o for e in own for o in e["tenants"]})):
        raise not_found("incident", incident_id)
    connections = sorted({e["subject"] for e in named if e["topic"] == CONNECTION_EVENTS})
    window = story.connection_window(incident_id, _rows_in(db, "e.topic = ? AND e.subject", connections, [CONNECTION_EVENTS]))
    others = [e for e in named if e["topic"] not in (CONNECTION_EVENTS,) and e["subject"] != incident_id]
    entries = _unique([*own, *others, *window])
    entries += _notifications(db, {incident_id, *connections}, {e["event_id"] for e in entries if e["event_id"]})
    entries = _unique(entries)
    if principal.role == "operator":
        entries = own + story.visible_to_operator(principal.operator_id or "", [e for e in entries if e not in own])
    entries.sort(key=story.order_key)
    return {"summary": story.summary(incident_id, entries), "entries": entries, "generated_at": time_key(utcnow())}


def _notifications(db: sqlite3.Connection, subjects: set[str], event_ids: set[str]) -> list[dict[str, Any]]:
    refs = sorted(subjects | event_ids)
    marks = ", ".join("?" * len(refs))
    queued = _rows(
        db,
        f"e.topic = ? AND e.type = 'NotificationQueued' AND (json_extract(e.data, '$.subject_id') IN ({marks})"
        f" OR json_extract(e.data, '$.domain_event_id') IN ({marks}))",
        [NOTIFICATION_EVENTS, *refs, *refs],
    )
    ids = sorted({e["subject"] for e in queued})
    return _rows_in(db, "e.topic = ? AND e.subject", ids, [NOTIFICATION_EVENTS])


def _rows(db: sqlite3.Connection, where: str, args: list[Any]) -> list[dict[str, Any]]:
    return [_with_tenants(r) for r in db.execute(f"{_SELECT} WHERE {where}", args)]


def _rows_in(db: sqlite3.Connection, prefix: str, values: list[str], args: list[Any]) -> list[dict[str, Any]]:
    if not values:
        return []
    return _rows(db, f"{prefix} IN ({', '.join('?' * len(values))})", [*args, *values])


def _with_tenants(row: sqlite3.Row) -> dict[str, Any]:
    return {**public(row), "tenants": sorted(row["tenants"].split(",")) if row["tenants"] else []}


def _unique(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for e in entries:
        seen.setdefault(e["entry"], e)
    return list(seen.values())
