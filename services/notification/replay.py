"""The replay protocol for the notification service: its read models built purely from the topics.

``read_models(settings, until=None, *, positions=None, progress=None)`` folds the contact and
notification topics into a fresh ``ViewSink`` — the projection the live service runs — fed through
the same ``Subscriber.process`` (decode, dedupe by event id, park a failing event) and returns the
snapshot that the live ``GET /ops/read-model`` shows. Only topics are read: no event store, no
producer, no notifier, no dispatcher, no SMTP or webhook — nothing is queued or sent, and an
unreadable record is skipped (the live service dead-lettered it), not dead-lettered again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

from services.audit.adapters.topics import read_records
from services.notification.projections.readmodel import READ_MODEL_TOPICS, snapshot
from services.notification.projections.views import ViewSink
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
    """The notification read models as the stream builds them: up to ``positions``, or as of ``until``."""
    sink = ViewSink()
    feeder = scratch_subscriber(settings, sink, name="notification.views")
    async for batch in read_records(settings, READ_MODEL_TOPICS, until=until, positions=positions, progress=progress):
        for record in batch:
            await feeder.process(as_consumer_record(settings, record))
    await feeder.retry_parked()  # the live subscriber retries parked events too
    return snapshot(sink.views)
