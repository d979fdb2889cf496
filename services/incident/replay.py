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
from types import SimpleNamespace
from typing import Any, Callable

from services.audit.adapters.topics import read_records
from services.incident.projections.connections import ConnectionDirectoryView
from services.incident.projections.incidents import IncidentViews
from services.incident.projections.readmodel import DIRECTORY_TOPICS, INCIDENT_TOPICS, READ_MODEL_TOPICS, snapshot
from shared.config import Settings
from shared.kafka.sinks import Sink
from shared.kafka.subscriber import Subscriber

Progress = Callable[[int, int], None]


class _NoDeadLetters:
    """A replay sends nothing: an unreadable record is only counted (the live service dead-lettered it)."""

    def __init__(self) -> None:
        self.count = 0

    async def send(self, record: Any, reason: str) -> None:
        """Count and drop."""
        self.count += 1


def _feeder(settings: Settings, sink: Sink, name: str) -> Subscriber:
    return Subscriber(
        bootstrap=settings.kafka_bootstrap_servers, topics=[], sink=sink,
        dead_letters=_NoDeadLetters(),  # type: ignore[arg-type]  # duck-typed: only send() is used
        name=f"replay.incident.{name}",
    )  # fmt: skip


async def read_models(
    settings: Settings,
    until: datetime | None = None,
    *,
    positions: dict[str, int] | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The incident read models as the stream builds them: up to ``positions``, or as of ``until``."""
    views, directory = IncidentViews(), ConnectionDirectoryView()
    incidents, connections = _feeder(settings, views, "incidents"), _feeder(settings, directory, "connections")
    feeders = {base: incidents for base in INCIDENT_TOPICS} | {base: connections for base in DIRECTORY_TOPICS}
    async for batch in read_records(settings, READ_MODEL_TOPICS, until=until, positions=positions, progress=progress):
        for record in batch:
            await feeders[record.topic].process(_as_consumer_record(settings, record))
    for feeder in (incidents, connections):
        await feeder.retry_parked()  # the live subscriber retries parked events too
    return snapshot(views, directory)


def _as_consumer_record(settings: Settings, record: Any) -> SimpleNamespace:
    """What ``Subscriber.process`` reads of a Kafka record (the full topic name, as the live consumer sees it)."""
    return SimpleNamespace(
        topic=settings.topic(record.topic), partition=record.partition, offset=record.offset,
        value=record.value, key=None, headers=(),
    )  # fmt: skip
