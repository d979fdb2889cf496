"""The sensors' topic ``smguard.sensor.anomalies`` as the service's inbox (raw JSON, key = connection id).

How to run: it starts with the service (``smguard serve incident``); sensors produce JSON records with
the fields of ``POST /anomalies`` to the topic, keyed by connection id. The runtime's inbox loop hands
each partition this instance owns to ``AnomalyIntake.handle`` a batch at a time; the batch's offset
commits in the same transaction as its decisions. A record that is not a valid anomaly, that names a
connection the service does not know, or that is not keyed by its connection (so it is on another
connection's partition) goes to the dead-letter topic with the reason.
"""

from __future__ import annotations

import asyncio
from typing import Awaitable, Callable

from aiokafka import ConsumerRecord
from pydantic import ValidationError

from shared import tracing
from shared.eventstore import Context, InboxRecord, StoreUnavailable
from shared.kafka.deadletters import DeadLetters
from services.incident.application.anomalies import handle_anomalies
from services.incident.application.service import IncidentService
from services.incident.domain.commands import Anomaly
from services.incident.entrypoints.schemas import AnomalyTopicRecord

TOPIC_ACTOR = "sensor-topic"
Taken = tuple[ConsumerRecord, Anomaly]
Refused = tuple[ConsumerRecord, str]


class AnomalyIntake:
    """Turns one partition's batch of sensor records into one batch decision; the records it cannot take are dead-lettered."""

    def __init__(self, svc: IncidentService, dead_letters: DeadLetters, *, ready: Callable[[], Awaitable[None]]) -> None:
        self._svc, self._dlq, self._ready = svc, dead_letters, ready
        self._is_ready = False
        self.decided = 0

    async def handle(self, partition: int, records: list[ConsumerRecord]) -> None:
        """Read, decide (the offset of the last record commits with the decisions), dead-letter the refused."""
        await self._directory_loaded()
        good, bad = self._read(partition, records)
        last = records[-1]
        span = tracing.start_process(
            last.topic, links=[tracing.of_record(record.headers) for record in records],
            attributes={"messaging.batch.message_count": len(records), "messaging.destination.partition.id": str(partition)},
        ) if tracing.ENABLED else None  # fmt: skip
        try:
            outcomes = await handle_anomalies(
                self._svc, [anomaly for _, anomaly in good],
                context=Context(actor=TOPIC_ACTOR, traceparent=tracing.traceparent_of(span)),
                inbox=InboxRecord(last.topic, last.partition, last.offset),
            )  # fmt: skip
        except BaseException as exc:
            tracing.end(span, exc)
            raise
        tracing.end(span)
        bad.extend((record, o.refused) for (record, _), o in zip(good, outcomes) if o.refused)
        await asyncio.gather(*(self._dlq.send(record, reason) for record, reason in bad))
        self.decided += len(records)

    async def _directory_loaded(self) -> None:
        """Before the first batch: the connection directory must be loaded before "unknown" means unknown."""
        if self._is_ready:
            return
        try:
            await self._ready()
        except TimeoutError as exc:  # not a bad record: the batch is read again later
            raise StoreUnavailable(f"the connection directory is not loaded yet: {exc}") from None
        self._is_ready = True

    def _read(self, partition: int, records: list[ConsumerRecord]) -> tuple[list[Taken], list[Refused]]:
        """The anomalies of a partition's records, and the records that are none (with the reason)."""
        good: list[Taken] = []
        bad: list[Refused] = []
        for record in records:
            try:
                anomaly = Anomaly(**AnomalyTopicRecord.model_validate_json(record.value or b"").model_dump())
            except ValidationError as exc:
                bad.append((record, f"not an anomaly record: {exc.errors(include_url=False)}"))
                continue
            home = self._svc.store.partition_of(anomaly.connection_id)
            if home != partition:
                reason = f"keyed on partition {partition}, but connection {anomaly.connection_id} is on {home}"
                bad.append((record, f"{reason}: key records by connection id"))
            else:
                good.append((record, anomaly))
        return good, bad
