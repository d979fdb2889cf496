"""The incident read model: a pure fold of the incident events into JSON-ready views, and its store."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from shared.envelope import Envelope
from shared.events.incident import (
    AnomalyAttached,
    AnomalyDetected,
    IncidentCleared,
    IncidentOpened,
    ReportFiled,
    ReportOverdue,
    VulnerabilityDeclared,
)
from shared.kafka.sinks import MemorySink

View = dict[str, Any]
SUMMARY_FIELDS = (
    "id", "status", "category", "severity", "tlp", "title", "origin", "opened_by", "operator_id",
    "connection_id", "detected_at", "opened_at", "cleared_at", "version", "anomaly_count",
)  # fmt: skip


def apply(view: View | None, envelope: Envelope) -> View:
    """Fold one event into an incident's view (in place; a replayed older event changes nothing)."""
    event = envelope.event
    if isinstance(event, IncidentOpened):
        view = _opened(event, envelope)
    elif view is None:
        raise ValueError(f"{envelope.type} for incident {envelope.subject} before IncidentOpened")
    elif envelope.sequence <= view["version"]:
        return view
    else:
        _fold(view, event, envelope)
    view["version"] = envelope.sequence
    view["timeline"].append(
        {
            "sequence": envelope.sequence,
            "type": envelope.type,
            "time": envelope.time.isoformat(),
            "actor": envelope.actor,
            "operator_id": envelope.operator_id,
            "event_id": envelope.id,
        }
    )
    return view


def _opened(event: IncidentOpened, envelope: Envelope) -> View:
    return {
        **event.model_dump(mode="json", exclude={"incident_id"}),
        "id": event.incident_id,
        "status": "open",
        "opened_at": envelope.time.isoformat(),
        "cleared_at": None,
        "clearing": None,
        "reports": {"initial": [], "cause": []},
        "anomalies": [],
        "anomaly_count": 0,
        "vulnerability": None,
        "overdue": [],
        "timeline": [],
        "version": 0,
    }


def _fold(view: View, event: Any, envelope: Envelope) -> None:
    if isinstance(event, (AnomalyDetected, AnomalyAttached)):
        signal = event.model_dump(mode="json", exclude={"incident_id"})
        view["anomalies"].append({**signal, "attached": isinstance(event, AnomalyAttached)})
        view["anomaly_count"] += 1
    elif isinstance(event, VulnerabilityDeclared):
        view["vulnerability"] = event.model_dump(mode="json", exclude={"incident_id"})
    elif isinstance(event, ReportFiled):
        content = event.initial if event.part == "initial" else event.cause
        view["reports"][event.part].append(
            {
                "revision": event.revision,
                "filed_by": event.filed_by,
                "direction": event.direction,
                "operator_id": envelope.operator_id if event.filed_by == "operator" else None,
                "filed_at": envelope.time.isoformat(),
                "actor": envelope.actor,
                **(content.model_dump(mode="json") if content else {}),
            }
        )
    elif isinstance(event, ReportOverdue):
        view["overdue"].append({"part": event.part, "due_at": event.due_at.isoformat()})
    elif isinstance(event, IncidentCleared):
        view["status"], view["cleared_at"] = "cleared", envelope.time.isoformat()
        view["clearing"] = event.model_dump(mode="json", exclude={"incident_id"})


def summary(view: View) -> View:
    """The fields a list shows."""
    return {name: view.get(name) for name in SUMMARY_FIELDS} | {
        "reports": {part: len(revisions) for part, revisions in view["reports"].items()},
        "overdue": [o["part"] for o in view["overdue"]],
    }


class IncidentViews(MemorySink):
    """Every incident's view, rebuilt from the incident topic at each start (memory is enough)."""

    def __init__(self) -> None:
        super().__init__()
        self.views: dict[str, View] = {}
        self._changed = asyncio.Condition()

    async def handle(self, envelope: Envelope) -> None:
        """Fold the event and wake readers waiting for this version."""
        self.views[envelope.subject] = apply(self.views.get(envelope.subject), envelope)
        async with self._changed:
            self._changed.notify_all()

    def snapshot(self) -> dict[str, View]:
        """Every view as plain JSON data (a deep copy), keyed by incident id."""
        return json.loads(json.dumps(self.views, ensure_ascii=False))

    async def wait_for(self, incident_id: str, version: int, *, timeout: float = 5.0) -> bool:
        """Wait until the view has reached ``version`` (read your own writes); False on timeout."""

        def reached() -> bool:
            return self.views.get(incident_id, {}).get("version", 0) >= version

        try:
            async with self._changed:
                await asyncio.wait_for(self._changed.wait_for(reached), timeout)
            return True
        except TimeoutError:
            return reached()
