"""Reading the audit log: tenant-scoped pages of entries, and incident dossiers with what a reader may see."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.audit.adapters import reads
from services.audit.domain import dossier as story
from services.audit.domain.entries import EntryFilter, time_key
from services.audit.projections.log import AuditLog
from shared.domain import not_found
from shared.principal import Principal
from shared.topics import CONNECTION_EVENTS, NOTIFICATION_EVENTS

Entry = dict[str, Any]


def list_entries(log: AuditLog, f: EntryFilter, principal: Principal, *, limit: int, start: int) -> dict[str, Any]:
    """One page of entries in time order; an operator sees only entries that concern its tenant."""
    # An operator's token without an operator id scopes to no tenant at all, never to every tenant.
    tenant = (principal.operator_id or "") if principal.role == "operator" else None
    rows = reads.select_entries(log.db, f, tenant=tenant, limit=limit + 1, start=start)
    return {"items": rows[:limit], "start": start, "limit": limit, "next": start + limit if len(rows) > limit else None}


def dossier(log: AuditLog, incident_id: str, principal: Principal, *, now: datetime) -> dict[str, Any]:
    """The incident's story in order; 404 when it is unknown or another operator's."""
    named = reads.naming_incident(log.db, incident_id)
    own = [e for e in named if e["subject"] == incident_id and e["type"]]
    if not own or not principal.may_see_any(sorted({o for e in own for o in e["tenants"]})):
        raise not_found("incident", incident_id)
    connections = {e["subject"] for e in named if e["topic"] == CONNECTION_EVENTS}
    window = story.connection_window(incident_id, reads.of_subjects(log.db, CONNECTION_EVENTS, connections))
    others = [e for e in named if e["topic"] != CONNECTION_EVENTS and e["subject"] != incident_id]
    entries = _unique([*own, *others, *window])
    event_ids = {e["event_id"] for e in entries if e["event_id"]}
    entries = _unique([*entries, *_notifications(log, {incident_id, *connections} | event_ids)])
    if principal.role == "operator":
        entries = own + story.visible_to_operator(principal.operator_id or "", [e for e in entries if e not in own])
    entries.sort(key=story.order_key)
    return {"summary": story.summary(incident_id, entries), "entries": entries, "generated_at": time_key(now)}


def _notifications(log: AuditLog, refs: set[str]) -> list[Entry]:
    """Every event of the notifications queued about one of ``refs`` (subjects or event ids)."""
    queued = reads.notifications_queued_about(log.db, NOTIFICATION_EVENTS, refs)
    return reads.of_subjects(log.db, NOTIFICATION_EVENTS, {e["subject"] for e in queued})


def _unique(entries: list[Entry]) -> list[Entry]:
    seen: dict[str, Entry] = {}
    for e in entries:
        seen.setdefault(e["entry"], e)
    return list(seen.values())
