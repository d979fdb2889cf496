"""The bulk anomaly input: a faust agent over ``smguard.sensor.anomalies`` (raw JSON, key = connection id).

How to run: it starts with the service (``smguard serve incident``); sensors produce JSON records with
the fields of ``POST /anomalies`` to the topic. Records that are not valid anomalies, or that name a
connection the service does not know, go to the dead-letter topic with the reason.
"""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace
from typing import Any, Awaitable, Callable

import faust
from pydantic import ValidationError

from shared.backoff import Backoff
from shared.eventstore import ConcurrencyError, Context, StoreUnavailable
from shared.kafka.deadletters import DeadLetters
from services.incident.application.handlers import handle_anomalies
from services.incident.application.service import IncidentService
from services.incident.domain.anomalies import Outcome
from services.incident.domain.commands import Anomaly
from services.incident.entrypoints.schemas import AnomalyTopicRecord

log = logging.getLogger(__name__)
TOPIC_ACTOR = "sensor-topic"
RETRY = Backoff(base=1.0, cap=10.0)


class AnomalyIntake:
    """Turns a batch of raw sensor records into one batch decision; bad records are dead-lettered."""

    def __init__(self, svc: IncidentService, dead_letters: DeadLetters, *, ready: Callable[[], Awaitable[None]]) -> None:
        self._svc, self._dlq, self._ready = svc, dead_letters, ready
        self._is_ready = False
        self.decided = 0

    async def handle_records(self, records: list[Any]) -> list[Outcome]:
        """Decode, decide the batch (retrying while the store is unavailable), dead-letter the refused."""
        if not self._is_ready:
            await self._ready()  # the connection directory must be loaded before "unknown" means unknown
            self._is_ready = True
        good, bad = [], []
        for record in records:
            try:
                good.append((record, Anomaly(**AnomalyTopicRecord.model_validate_json(record.value).model_dump())))
            except ValidationError as exc:
                bad.append((record, f"not an anomaly record: {exc.errors(include_url=False)}"))
        outcomes = await self._decide([anomaly for _, anomaly in good])
        bad.extend((record, o.refused) for (record, _), o in zip(good, outcomes) if o.refused)
        for record, reason in bad:
            await self._dlq.send(record, reason)
        self.decided += len(records)
        return outcomes

    async def _decide(self, anomalies: list[Anomaly]) -> list[Outcome]:
        attempt = 0
        while True:
            try:
                return await handle_anomalies(self._svc, anomalies, context=Context(actor=TOPIC_ACTOR))
            except (StoreUnavailable, ConcurrencyError) as exc:
                attempt += 1
                log.warning("anomaly batch not stored; retrying", extra={"error": str(exc), "attempt": attempt})
                await asyncio.sleep(RETRY.delay(attempt))


def as_record(event: faust.types.EventT) -> SimpleNamespace:
    """The parts of a faust event the dead-letter topic keeps."""
    message = event.message
    return SimpleNamespace(
        topic=message.topic, partition=message.partition, offset=message.offset, key=message.key, value=message.value
    )


def install_anomaly_agent(app: faust.App, *, topic: str, intake: AnomalyIntake, batch: int, within: float) -> Any:
    """Declare the agent that feeds the sensor topic, in batches, into ``intake``."""
    source = app.topic(topic, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")

    @app.agent(source, name="incident-anomalies")
    async def anomalies(stream: faust.StreamT) -> None:
        async for events in stream.take_events(batch, within=within):
            await intake.handle_records([as_record(e) for e in events])

    return anomalies
