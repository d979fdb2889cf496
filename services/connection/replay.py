"""The replay protocol for the connection service: its read models built purely from the topics.

``read_models(settings, until=None, *, positions=None, progress=None)`` reads the service's own
topics (connection, policy, operator) as its event store does at start — every decodable record,
in order per stream — into a scratch stream index and folds it into a fresh ``Directory`` with the
same ``rebuild`` the live service runs; the incident topic goes through the same
``Subscriber.process`` (decode, dedupe by event id) into a fresh incident ledger, the one the live
reactions keep, but without reacting. The answer is the snapshot the live ``GET /ops/read-model``
shows. Nothing touches the live store, nothing is produced or sent (no reaction, no enforcement, no
dead letter), no secret is unsealed.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Callable

from services.audit.adapters.topics import read_records
from services.connection.projections.directory import Directory
from services.connection.projections.incidents import IncidentLedger
from services.connection.projections.readmodel import INCIDENT_TOPICS, READ_MODEL_TOPICS, snapshot
from shared.config import Settings
from shared.envelope import DecodeError, Position, decode
from shared.eventstore.index import StreamIndex
from shared.replay import as_consumer_record, scratch_subscriber

log = logging.getLogger(__name__)
Progress = Callable[[int, int], None]


async def read_models(
    settings: Settings,
    until: datetime | None = None,
    *,
    positions: dict[str, int] | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The connection read models as the stream builds them: up to ``positions``, or as of ``until``."""
    streams, ledger = StreamIndex("smguard/connection-replay"), IncidentLedger()
    incidents = scratch_subscriber(settings, ledger, name="connection.incidents")
    async for batch in read_records(settings, READ_MODEL_TOPICS, until=until, positions=positions, progress=progress):
        for record in batch:
            full_topic = settings.topic(record.topic)
            if record.topic in INCIDENT_TOPICS:
                await incidents.process(as_consumer_record(settings, record))
                continue
            try:  # the event store skips an unreadable record of its own topics too
                streams.add([decode(record.value, position=Position(full_topic, record.partition, record.offset))])
            except DecodeError as exc:
                log.warning("skipped an unreadable record in an event topic", extra={"reason": str(exc)})
    await incidents.retry_parked()  # the live subscriber retries parked events too
    directory = Directory(streams.load)
    directory.rebuild(streams.all())  # what the live service does once its store has read the topics
    return snapshot(directory, streams.load, ledger.incidents)
