"""What the connection service knows of incidents, folded from the incident topic: open or cleared, and whose.

Blocking by a person needs the incident known and not cleared; a cleared incident takes its
recommendations off the work list (``directory.unlist_for``).
"""

from __future__ import annotations

from typing import Any

from shared.documents import Documents
from shared.envelope import Envelope
from shared.events.incident import AnomalyAttached, AnomalyDetected, IncidentCleared, IncidentOpened, VulnerabilityDeclared

INCIDENTS = "incidents"


def fold_incident(docs: Documents, envelope: Envelope) -> bool:
    """Take one incident event into the ledger; True when it cleared the incident."""
    event = envelope.event
    if isinstance(event, IncidentOpened):
        _note(docs, event.incident_id, operators=[*event.operator_ids, *([event.operator_id] if event.operator_id else [])])
    elif isinstance(event, (AnomalyDetected, AnomalyAttached)):
        _note(docs, event.incident_id, operators=[event.operator_id])
    elif isinstance(event, VulnerabilityDeclared):
        _note(docs, event.incident_id, operators=[])
    elif isinstance(event, IncidentCleared):
        _note(docs, event.incident_id, operators=[], status="cleared")
        return True
    return False


def _note(docs: Documents, incident_id: str, *, operators: list[str], status: str | None = None) -> None:
    doc = docs.get(INCIDENTS, incident_id) or {"status": "open", "operator_ids": []}
    doc = {"status": status or doc["status"], "operator_ids": sorted({*doc["operator_ids"], *operators})}
    docs.put(INCIDENTS, incident_id, doc)


def incident(docs: Documents, incident_id: str) -> dict[str, Any] | None:
    """What is known of an incident (``status``, ``operator_ids``), or None."""
    return docs.get(INCIDENTS, incident_id)


def is_cleared(docs: Documents, incident_id: str) -> bool:
    """Whether the incident is known to be cleared."""
    doc = docs.get(INCIDENTS, incident_id)
    return doc is not None and doc["status"] == "cleared"
