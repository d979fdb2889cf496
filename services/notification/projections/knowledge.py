"""What the notifier knows of incidents and connections, to address and describe its messages."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.envelope import Envelope
from shared.events.connection import ConnectionBlocked, ConnectionEvent, ConnectionRegistered
from shared.events.incident import IncidentCleared, IncidentEvent, IncidentOpened, VulnerabilityDeclared


@dataclass
class Knowledge:
    """Incidents (title, severity, operators concerned) and connections (operator, kind, model)."""

    incidents: dict[str, dict[str, Any]] = field(default_factory=dict)
    connections: dict[str, dict[str, Any]] = field(default_factory=dict)

    def incident(self, incident_id: str | None) -> dict[str, Any]:
        """What is known of an incident (empty when nothing is)."""
        return self.incidents.get(incident_id or "", {})

    def connection(self, connection_id: str | None) -> dict[str, Any]:
        """What is known of a connection (empty when nothing is)."""
        return self.connections.get(connection_id or "", {})


def _operators(incident: dict[str, Any], *ids: str | None) -> None:
    known: list[str] = incident.setdefault("operator_ids", [])
    for op in ids:
        if op and op not in known:
            known.append(op)


def apply(knowledge: Knowledge, envelope: Envelope) -> Knowledge:
    """Fold one event into the knowledge (other events leave it as it is)."""
    event = envelope.event
    if isinstance(event, IncidentOpened):
        incident = knowledge.incidents.setdefault(event.incident_id, {})
        incident.update(
            id=event.incident_id, title=event.title, category=event.category, severity=event.severity,
            detected_at=event.detected_at, opened_by=event.opened_by,
        )
        _operators(incident, event.operator_id, *event.operator_ids)
    elif isinstance(event, VulnerabilityDeclared):
        incident = knowledge.incidents.setdefault(event.incident_id, {"id": event.incident_id})
        incident.setdefault("title", event.title)
        incident["vulnerability"] = {"maker": event.maker, "model": event.model, "firmware": event.firmware}
    elif isinstance(event, IncidentCleared):
        _operators(knowledge.incidents.setdefault(event.incident_id, {"id": event.incident_id}), event.operator_id, *event.operator_ids)
    elif isinstance(event, ConnectionRegistered):
        knowledge.connections[event.connection_id] = {
            "id": event.connection_id, "operator_id": event.operator_id, "kind": event.kind,
            "maker": event.maker, "model": event.model, "firmware": event.firmware,
        }
    if isinstance(event, ConnectionBlocked):
        _operators(knowledge.incidents.setdefault(event.incident_id, {"id": event.incident_id}), event.operator_id)
    return knowledge


def operators_concerned(knowledge: Knowledge, envelope: Envelope) -> list[str]:
    """The operators an event concerns: its own fields first, then the incident's, then the envelope's."""
    event = envelope.event
    found: list[str] = []
    direct = getattr(event, "operator_id", None)
    for op in [direct, *getattr(event, "operator_ids", [])]:
        if op and op not in found:
            found.append(op)
    if not found and isinstance(event, IncidentEvent):
        found = list(knowledge.incident(event.incident_id).get("operator_ids", []))
    if not found and isinstance(event, ConnectionEvent):
        op = knowledge.connection(event.connection_id).get("operator_id")
        found = [op] if op else []
    if not found and envelope.operator_id:
        found = [envelope.operator_id]
    return found
