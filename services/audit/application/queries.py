"""Reading the audit log: tenant-scoped pages of entries, and incident dossiers with what a reader may see."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.audit.adapters import reads
from services.audit.domain import dossier as story
from services.audit.domain import readers
from services.audit.domain.entries import EntryFilter, time_key
from services.audit.projections.log import AuditLog
from shared import tenancy
from shared.domain import not_found
from shared.principal import Principal
from shared.topics import CONNECTION_EVENTS, NOTIFICATION_EVENTS

Entry = dict[str, Any]


def list_entries(log: AuditLog, f: EntryFilter, principal: Principal, *, limit: int, start: int) -> dict[str, Any]:
    """One page of entries in time order; an operator sees only entries that concern its tenant."""
    # An operator's token without an operator id scopes to no tenant at all, never to every tenant.
    tenant = (principal.operator_id or "") if principal.role == "operator" else None
    if tenant is not None and f.operator_id not in (None, tenant):
        # another operator's filter finds nothing, not even the entries shared with it (it would tell who they name)
        return {"items": [], "start": start, "limit": limit, "next": None}
    rows = reads.select_entries(log.db, f, tenant=tenant, limit=limit + 1, start=start)
    items = _for_reader(log, principal, rows[:limit])
    return {"items": items, "start": start, "limit": limit, "next": start + limit if len(rows) > limit else None}


def dossier(log: AuditLog, incident_id: str, principal: Principal, *, now: datetime) -> dict[str, Any]:
    """The incident's story in order, as the caller may see it (``shared.tenancy``, as the incident service
    shows the incident); 404 when it is unknown or concerns no tenant of the caller."""
    named = reads.naming_incident(log.db, incident_id)
    own = [e for e in named if e["subject"] == incident_id and e["type"]]
    operators = story.concerned(incident_id, named)
    if not own or not tenancy.may_see(principal, operators):
        raise not_found("incident", incident_id)
    connections = {e["subject"] for e in named if e["topic"] == CONNECTION_EVENTS}
    window = story.connection_window(incident_id, reads.of_subjects(log.db, CONNECTION_EVENTS, connections))
    others = [e for e in named if e["topic"] != CONNECTION_EVENTS and e["subject"] != incident_id]
    entries = _unique([*own, *others, *window])
    event_ids = {e["event_id"] for e in entries if e["event_id"]}
    entries = _unique([*entries, *_notifications(log, {incident_id, *connections} | event_ids)])
    summary = story.summary(incident_id, entries, operators=tenancy.known(principal, operators), principal=principal)
    entries = _for_reader(log, principal, [e for e in entries if readers.shown(principal, e)])
    entries.sort(key=story.order_key)
    return {"summary": summary, "entries": entries, "generated_at": time_key(now)}


def _for_reader(log: AuditLog, principal: Principal, entries: list[Entry]) -> list[Entry]:
    """Each entry as the caller sees it (another operator's operators and connections left out of what it names)."""
    named = readers.connections_named(entries) if principal.role == "operator" else set()
    owners = reads.connection_owners(log.db, CONNECTION_EVENTS, named)
    return [readers.for_reader(principal, e, owners=owners) for e in entries]


def _notifications(log: AuditLog, refs: set[str]) -> list[Entry]:
    """Every event of the notifications queued about one of ``refs`` (subjects or event ids)."""
    queued = reads.notifications_queued_about(log.db, NOTIFICATION_EVENTS, refs)
    return reads.of_subjects(log.db, NOTIFICATION_EVENTS, {e["subject"] for e in queued})


def _unique(entries: list[Entry]) -> list[Entry]:
    seen: dict[str, Entry] = {}
    for e in entries:
        seen.setdefault(e["entry"], e)
    return list(seen.values())
