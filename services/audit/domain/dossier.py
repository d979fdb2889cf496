"""An incident's dossier: which entries tell its story, in what order; no I/O.

Entries here are the public dicts of the store (``type``, ``subject``, ``topic``, ``log``,
``index``, ``time``, ``data``...). The story: the incident's own events; the events of other
aggregates that name it (blocks, releases, recommendations); each such connection's events from
its first mention of the incident up to its reconnection (approvals, enforcement); and the
notifications about any of these, with their delivery, acknowledgement and escalation.
"""

from __future__ import annotations

from itertools import groupby
from typing import Any, Iterable

from shared import tenancy
from shared.principal import Principal
from shared.topics import CONNECTION_EVENTS

Entry = dict[str, Any]
AFTER_RECONNECT = {"ReconnectEnforced", "BlockEnforcementFailed", "EnforcementEscalated"}


def order_key(entry: Entry) -> tuple[str, str, int, int]:
    """Across services by event time, then by topic, partition and offset (deterministic)."""
    return (entry.get("time") or "", entry["topic"], entry["partition"], entry["offset"])


def connection_window(incident_id: str, entries: Iterable[Entry]) -> list[Entry]:
    """Each connection's events from its first mention of the incident until its reconnection is enforced."""
    chosen: list[Entry] = []
    ordered = sorted((e for e in entries if e["topic"] == CONNECTION_EVENTS), key=lambda e: (e["subject"], e["log"], e["index"]))
    for _, events in groupby(ordered, key=lambda e: e["subject"]):
        chosen.extend(_window(incident_id, list(events)))
    return chosen


def _window(incident_id: str, events: list[Entry]) -> list[Entry]:
    start = next((i for i, e in enumerate(events) if (e.get("data") or {}).get("incident_id") == incident_id), None)
    if start is None:
        return []
    window: list[Entry] = []
    reconnected = False
    for event in events[start:]:
        if reconnected and event["type"] not in AFTER_RECONNECT:
            break
        window.append(event)
        reconnected = reconnected or event["type"] == "ConnectionReconnected"
    return window


def concerned(incident_id: str, named: list[Entry]) -> list[str]:
    """The operators an incident concerns (``shared.tenancy.concerned``): those its own events name, and those
    whose connections it blocked — as the incident service counts them."""
    own = (o for e in named if e["subject"] == incident_id for o in e.get("tenants", []))
    blocked = (e["operator_id"] for e in named if e["type"] == "ConnectionBlocked" and e["subject"] != incident_id)
    return tenancy.concerned(own, blocked)


def summary(incident_id: str, entries: list[Entry], *, operators: list[str], principal: Principal) -> dict[str, Any]:
    """Title, category, severity and status from the incident's own events, with the operators the reader may know
    (another operator's report: its title withheld, ``shared.tenancy.opening``)."""
    own = [e for e in entries if e["subject"] == incident_id]
    opened = tenancy.opening(principal, next((e["data"] for e in own if e["type"] == "IncidentOpened"), {}) or {})
    cleared = next((e for e in own if e["type"] == "IncidentCleared"), None)
    return {
        "incident_id": incident_id,
        "title": opened.get("title"),
        "category": opened.get("category"),
        "severity": opened.get("severity"),
        "status": "cleared" if cleared else "open",
        "opened_at": next((e["time"] for e in own if e["type"] == "IncidentOpened"), None),
        "cleared_at": cleared["time"] if cleared else None,
        "operator_ids": operators,
    }
