"""The replay protocol for the incident service: its read models built purely from the topics.

``read_models(settings, until=None, *, positions=None, progress=None)`` folds the incident and
connection topics into fresh in-memory projections — the same ``IncidentViews`` and
``ConnectionDirectoryView`` the live service runs, fed through the same ``Subscriber.process``
(decode, dedupe by event id, park a failing aggregate) — and returns the snapshot that the live
``GET /ops/read-model`` shows. Nothing touches the live store, nothing is produced (an unreadable
record is skipped, not dead-lettered), no faust app runs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

from services.audit.adapters.topics import read_records
from services.incident.projections.connections import ConnectionDirectoryView
from services.incident.projections.incidents import IncidentViews
from services.incident.projections.readmodel import DIRECTORY_TOPICS, INCIDENT_TOPICS, READ_MODEL_TOPICS, snapshot
from shared.config import Settings
from shared.replay import as_consumer_record, scratch_subscriber

Progress = Callable[[int, int], None]


async def read_models(
    settings: Settings,
    until: datetime | None = None,
    *,
    positions: dict[str, int] | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The incident read models as the stream builds them: up to ``positions``, or as of ``until``."""
    views, directory = IncidentViews(), ConnectionDirectoryView()
    incidents = scratch_subscriber(settings, views, name="incident.incidents")
    connections = scratch_subscriber(settings, directory, name="incident.connections")
    feeders = {base: incidents for base in INCIDENT_TOPICS} | {base: connections for base in DIRECTORY_TOPICS}
    async for batch in read_records(settings, READ_MODEL_TOPICS, until=until, positions=positions, progress=progress):
        for record in batch:
            await feeders[record.topic].process(as_consumer_record(settings, record))
    for feeder in (incidents, connections):
        await feeder.retry_parked()  # the live subscriber retries parked events too
    return snapshot(views, directory)

