"""The incident service's read models as one deterministic snapshot, and the stream positions they reflect.

The same shape comes from the live projections (``GET /ops/read-model``) and from a replay of the
topics (``services.incident.replay``), so ``smguard replay`` can compare them key by key.
"""

from __future__ import annotations

from typing import Any, Iterable

from shared.config import Settings
from shared.kafka.sinks import MemorySink
from shared.topics import CONNECTION_EVENTS, INCIDENT_EVENTS
from services.incident.projections.connections import ConnectionDirectoryView
from services.incident.projections.incidents import IncidentViews

# Which topics feed which projection (the live service subscribes the same way).
INCIDENT_TOPICS = (INCIDENT_EVENTS,)
DIRECTORY_TOPICS = (CONNECTION_EVENTS,)
READ_MODEL_TOPICS = INCIDENT_TOPICS + DIRECTORY_TOPICS


def snapshot(views: IncidentViews, directory: ConnectionDirectoryView) -> dict[str, Any]:
    """Both projections as plain JSON data; every list in it is in stream order (one incident's events)."""
    return {"incidents": views.snapshot(), **directory.snapshot()}


def positions(settings: Settings, sinks: Iterable[MemorySink]) -> dict[str, int]:
    """``{"<topic base>/<partition>": next offset}`` the sinks have applied (partitions with nothing applied: absent)."""
    bases = {settings.topic(base): base for base in READ_MODEL_TOPICS}
    found: dict[str, int] = {}
    for sink in sinks:
        for tp, next_offset in sink.resume_positions().items():
            if tp.topic in bases:
                found[f"{bases[tp.topic]}/{tp.partition}"] = next_offset
    return found


def live_read_model(settings: Settings, views: IncidentViews, directory: ConnectionDirectoryView) -> dict[str, Any]:
    """Positions and snapshot taken together, with no await between them (nothing is applied meanwhile)."""
    return {"positions": positions(settings, [views, directory]), "read_models": snapshot(views, directory)}
