"""The incident service's read models as one deterministic snapshot, live or replayed alike.

``smguard replay`` compares the live one (``GET /ops/read-model``) with one rebuilt from the topics
(``bootstrap.READ_MODELS``) key by key.
"""

from __future__ import annotations

from typing import Any

from services.incident.projections.connections import ConnectionDirectoryView
from services.incident.projections.incidents import IncidentViews


def snapshot(views: IncidentViews, directory: ConnectionDirectoryView) -> dict[str, Any]:
    """Both projections as plain JSON data; every list in it is in stream order (one incident's events)."""
    return {"incidents": views.snapshot(), **directory.snapshot()}
