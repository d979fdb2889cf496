"""The incident views: a pure fold of the incident events into one bounded JSON document per incident.

A document keeps ``anomaly_count`` and only the latest ``LATEST_ANOMALIES`` anomalies and
``LATEST_TIMELINE`` timeline entries (``anomalies_truncated``, ``timeline_truncated`` say when
there were more); every anomaly is also an item of its incident (``ANOMALIES``), read a page at a time.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Iterable

from shared.documents import Documents
from shared.envelope import Envelope
from shared.events import DomainEvent
from shared.events.incident import (
    AnomalyAttached,
    AnomalyDetected,
    IncidentCleared,
    IncidentNoteAttached,
    IncidentOpened,
    ReportFiled,
    ReportOverdue,
    VulnerabilityDeclared,
)

View = dict[str, Any]
INCIDENTS, ANOMALIES = "incidents", "anomalies"
LATEST_ANOMALIES, LATEST_TIMELINE, LATEST_NOTES = 20, 200, 200


def fold(docs: Documents, envelope: Envelope, *, also_concerned: Iterable[str]) -> None:
    """Apply one incident event to its document (and its anomaly items); ``also_concerned``: operators whose
    connections were blocked for it, tagged so that an operator's list is one tagged query."""
    before = docs.get(INCIDENTS, envelope.subject)
    if before is not None and envelope.sequence <= before["version"]:
        return  # an event the view already holds (the stream read again): nothing changes
    view = apply(before, envelope)
    item = anomaly_of(envelope.event)
    if item is not None:
        docs.add_item(ANOMALIES, envelope.subject, item)
    _put(docs, view, also_concerned)


def retag(docs: Documents, incident_id: str, *, also_concerned: Iterable[str]) -> None:
    """Tag an incident with the operators it concerns again (a connection was blocked for it)."""
    view = docs.get(INCIDENTS, incident_id)
    if view is not None:
        _put(docs, view, also_concerned)


def _put(docs: Documents, view: View, also_concerned: Iterable[str]) -> None:
    tags = {
        "status": view["status"], "category": view["category"], "severity": view["severity"],
        "operator": sorted({*view["operator_ids"], *also_concerned}),
    }  # fmt: skip
    docs.put(INCIDENTS, view["id"], view, sort=_sort_key(view["opened_at"]), tags=tags)


def _sort_key(opened_at: str) -> str:
    """Opening time as fixed-width UTC text, so documents sort by it (ties by id, as the store orders)."""
    return datetime.fromisoformat(opened_at).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")


def apply(view: View | None, envelope: Envelope) -> View:
    """Fold one event into an incident's view (in place), keeping its lists bounded."""
    event = envelope.event
    if isinstance(event, IncidentOpened):
        view = _opened(event, envelope)
    elif view is None:
        raise ValueError(f"{envelope.type} for incident {envelope.subject} before IncidentOpened")
    else:
        _fold(view, event, envelope)
    view["version"] = envelope.sequence
    entry = {
        "sequence": envelope.sequence, "type": envelope.type, "time": envelope.time.isoformat(),
        "actor": envelope.actor, "operator_id": envelope.operator_id, "event_id": envelope.id,
    }  # fmt: skip
    view["timeline"] = [*view["timeline"], entry][-LATEST_TIMELINE:]
    view["timeline_count"] += 1
    view["timeline_truncated"] = view["timeline_count"] > len(view["timeline"])
    return view


def anomaly_of(event: DomainEvent) -> dict[str, Any] | None:
    """The anomaly an event records, as its incident lists it (None for other events)."""
    if not isinstance(event, (AnomalyDetected, AnomalyAttached)):
        return None
    return {**event.model_dump(mode="json", exclude={"incident_id"}), "attached": isinstance(event, AnomalyAttached)}


def _opened(event: IncidentOpened, envelope: Envelope) -> View:
    return {
        **event.model_dump(mode="json", exclude={"incident_id"}),
        "id": event.incident_id, "status": "open", "opened_at": envelope.time.isoformat(), "cleared_at": None,
        "clearing": None, "reports": {"initial": [], "cause": []}, "anomalies": [], "anomaly_count": 0,
        "anomalies_truncated": False, "vulnerability": None, "overdue": [], "timeline": [], "timeline_count": 0,
        "timeline_truncated": False, "version": 0,
    }  # fmt: skip


def _fold(view: View, event: DomainEvent, envelope: Envelope) -> None:
    anomaly = anomaly_of(event)
    if anomaly is not None:
        view["anomalies"] = [*view["anomalies"], anomaly][-LATEST_ANOMALIES:]
        view["anomaly_count"] += 1
        view["anomalies_truncated"] = view["anomaly_count"] > len(view["anomalies"])
    elif isinstance(event, VulnerabilityDeclared):
        view["vulnerability"] = event.model_dump(mode="json", exclude={"incident_id"})
    elif isinstance(event, ReportFiled):
        content = event.initial if event.part == "initial" else event.cause
        view["reports"][event.part].append(
            {
                "revision": event.revision, "filed_by": event.filed_by, "direction": event.direction,
                "operator_id": envelope.operator_id if event.filed_by == "operator" else None,
                "filed_at": envelope.time.isoformat(), "actor": envelope.actor,
                **(content.model_dump(mode="json") if content else {}),
            }
        )  # fmt: skip
    elif isinstance(event, IncidentNoteAttached):
        _note(view, event, envelope)
    elif isinstance(event, ReportOverdue):
        view["overdue"].append({"part": event.part, "due_at": event.due_at.isoformat()})
    elif isinstance(event, IncidentCleared):
        view["status"], view["cleared_at"] = "cleared", envelope.time.isoformat()
        view["clearing"] = event.model_dump(mode="json", exclude={"incident_id"})


def _note(view: View, event: IncidentNoteAttached, envelope: Envelope) -> None:
    """A note joins the latest notes (a view made before notes existed gets the list with its first note)."""
    note = {
        "sequence": envelope.sequence, "text": event.text, "attached_by": event.attached_by,
        "operator_id": envelope.operator_id if event.attached_by == "operator" else None,
        "author": event.author.model_dump(mode="json") if event.author else None,
        "attached_at": envelope.time.isoformat(), "actor": envelope.actor,
    }  # fmt: skip
    view["notes"] = [*view.get("notes", []), note][-LATEST_NOTES:]
    view["note_count"] = view.get("note_count", 0) + 1
    view["notes_truncated"] = view["note_count"] > len(view["notes"])
