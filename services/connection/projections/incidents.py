"""What the connection service knows of incidents, folded from the incident topic.

The live reactions keep this ledger as they react, and a replay folds the same events into a
fresh one (``track``) without reacting.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.envelope import Envelope
from shared.events.incident import (
    AnomalyAttached,
    AnomalyDetected,
    IncidentCleared,
    IncidentOpened,
    VulnerabilityDeclared,
)
from shared.kafka.sinks import MemorySink


@dataclass
class IncidentInfo:
    """What this service knows of an incident."""

    incident_id: str
    status: str = "open"
    operator_ids: set[str] = field(default_factory=set)


def track(incidents: dict[str, IncidentInfo], event: object) -> None:
    """Take one incident event into the ledger (idempotent: a redelivery changes nothing)."""
    if isinstance(event, IncidentOpened):
        info = incidents.setdefault(event.incident_id, IncidentInfo(event.incident_id))
        info.operator_ids.update([*event.operator_ids, *([event.operator_id] if event.operator_id else [])])
    elif isinstance(event, (AnomalyDetected, AnomalyAttached)):
        incidents.setdefault(event.incident_id, IncidentInfo(event.incident_id)).operator_ids.add(event.operator_id)
    elif isinstance(event, VulnerabilityDeclared):
        incidents.setdefault(event.incident_id, IncidentInfo(event.incident_id))
    elif isinstance(event, IncidentCleared):
        incidents.setdefault(event.incident_id, IncidentInfo(event.incident_id)).status = "cleared"


def ledger_snapshot(incidents: dict[str, IncidentInfo]) -> dict[str, Any]:
    """The ledger as plain JSON data."""
    return {
        incident_id: {"status": info.status, "operator_ids": sorted(info.operator_ids)}
        for incident_id, info in sorted(incidents.items())
    }


class IncidentLedger(MemorySink):
    """The ledger alone, without reactions (what a replay folds the incident topic into)."""

    def __init__(self) -> None:
        super().__init__()
        self.incidents: dict[str, IncidentInfo] = {}

    async def handle(self, envelope: Envelope) -> None:
        """Track the event."""
        track(self.incidents, envelope.event)
