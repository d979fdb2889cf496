"""What the router knows of incidents and connections, to address and describe notifications (SQLite documents).

It reads the other services' topics (``read_committed``); the router routes an event only once
this projection has applied it (``adapters/commits.py``), so the incident or connection an event
names is known up to that event. The operators an incident concerns are rows of their own, in
the order they became known: an incident that concerns many operators keeps a small document.
"""

from __future__ import annotations

from typing import Any

from shared.documents import Documents, DocumentSink
from shared.envelope import Envelope
from shared.events.connection import ConnectionBlocked, ConnectionEvent, ConnectionRegistered
from shared.events.incident import IncidentCleared, IncidentEvent, IncidentOpened, VulnerabilityDeclared

INCIDENTS = "incidents"  # key: incident id; title, category, severity, detected_at, opened_by, origin, connection, vulnerability
OPERATORS = "incident_operators"  # key: "<incident id>/<operator id>"; tag incident; sorted as they became known
CONNECTIONS = "connections"  # key: connection id; operator, kind, maker, model, firmware
PAGE = 500


def _concerns(docs: Documents, incident_id: str, *operator_ids: str | None) -> None:
    """Record that the incident concerns these operators (each once, after those known before)."""
    for operator_id in operator_ids:
        key = f"{incident_id}/{operator_id}"
        if not operator_id or docs.get(OPERATORS, key) is not None:
            continue
        _, known = docs.query(OPERATORS, where={"incident": incident_id}, limit=0)
        row = {"incident_id": incident_id, "operator_id": operator_id}
        docs.put(OPERATORS, key, row, sort=f"{known:09d}", tags={"incident": incident_id})


def _incident(docs: Documents, incident_id: str) -> dict[str, Any]:
    return docs.get(INCIDENTS, incident_id) or {"id": incident_id}


def apply(docs: Documents, envelope: Envelope) -> None:
    """Fold one event into the knowledge (other events leave it as it is)."""
    event = envelope.event
    if isinstance(event, IncidentOpened):
        incident = _incident(docs, event.incident_id)
        incident.update(
            title=event.title, category=event.category, severity=event.severity,
            detected_at=event.detected_at.isoformat(), opened_by=event.opened_by, origin=event.origin,
            connection_id=event.connection_id,
        )  # fmt: skip
        docs.put(INCIDENTS, event.incident_id, incident)
        _concerns(docs, event.incident_id, event.operator_id, *event.operator_ids)
    elif isinstance(event, VulnerabilityDeclared):
        incident = _incident(docs, event.incident_id)
        incident.setdefault("title", event.title)
        incident["vulnerability"] = {"maker": event.maker, "model": event.model, "firmware": event.firmware}
        docs.put(INCIDENTS, event.incident_id, incident)
    elif isinstance(event, IncidentCleared):
        _concerns(docs, event.incident_id, event.operator_id, *event.operator_ids)
    elif isinstance(event, ConnectionRegistered):
        docs.put(CONNECTIONS, event.connection_id, {
            "id": event.connection_id, "operator_id": event.operator_id, "kind": event.kind,
            "maker": event.maker, "model": event.model, "firmware": event.firmware,
        })  # fmt: skip
    elif isinstance(event, ConnectionBlocked):
        _concerns(docs, event.incident_id, event.operator_id)


class Knowledge(DocumentSink):
    """Incidents (title, severity, the operators concerned) and connections (operator, kind, model)."""

    def fold(self, docs: Documents, envelope: Envelope) -> None:
        """Apply the event to the knowledge."""
        apply(docs, envelope)

    def incident(self, incident_id: str | None) -> dict[str, Any]:
        """What is known of an incident (empty when nothing is)."""
        return (self.docs.get(INCIDENTS, incident_id) if incident_id else None) or {}

    def connection(self, connection_id: str | None) -> dict[str, Any]:
        """What is known of a connection (empty when nothing is)."""
        return (self.docs.get(CONNECTIONS, connection_id) if connection_id else None) or {}

    def operators_of(self, incident_id: str) -> list[str]:
        """The operators an incident concerns, in the order they became known (read page by page)."""
        found: list[str] = []
        while True:
            rows, total = self.docs.query(OPERATORS, where={"incident": incident_id}, offset=len(found), limit=PAGE, newest_first=False)
            found += [row["operator_id"] for row in rows]
            if not rows or len(found) >= total:
                return found

    def operators_concerned(self, envelope: Envelope) -> list[str]:
        """The operators an event concerns: its own fields first, then the incident's, then the envelope's."""
        event = envelope.event
        found: list[str] = []
        for operator_id in [getattr(event, "operator_id", None), *getattr(event, "operator_ids", [])]:
            if operator_id and operator_id not in found:
                found.append(operator_id)
        if not found and isinstance(event, IncidentEvent):
            found = self.operators_of(event.incident_id)
        if not found and isinstance(event, ConnectionEvent):
            operator_id = self.connection(event.connection_id).get("operator_id")
            found = [operator_id] if operator_id else []
        if not found and envelope.operator_id:
            found = [envelope.operator_id]
        return found
