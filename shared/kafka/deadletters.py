"""The dead-letter topic: a record no one can read goes here with the reason, and work goes on."""

from __future__ import annotations

import logging

from aiokafka import AIOKafkaProducer, ConsumerRecord

from shared.kafka import clients
from shared.config import Settings
from shared.metrics import DEAD_LETTERED
from shared.topics import DEAD_LETTERS

log = logging.getLogger(__name__)


class DeadLetters:
    """Sends unreadable records, unchanged, to the dead-letter topic with headers saying why."""

    def __init__(self, settings: Settings, *, consumer: str) -> None:
        self._topic = settings.topic(DEAD_LETTERS)
        self._consumer = consumer
        self._settings = settings
        self._producer: AIOKafkaProducer | None = None
        self.count = 0

    async def start(self) -> None:
        """Connect (aiokafka clients are made inside the running loop)."""
        self._producer = clients.producer(self._settings, acks="all", enable_idempotence=True)
        await self._producer.start()

    async def stop(self) -> None:
        """Flush and disconnect."""
        if self._producer is not None:
            await self._producer.stop()

    async def send(self, record: ConsumerRecord, reason: str) -> None:
        """Park one record for people to look at; waits until the broker has it."""
        headers = [
            ("dlq.reason", reason.encode()),
            ("dlq.topic", record.topic.encode()),
            ("dlq.partition", str(record.partition).encode()),
            ("dlq.offset", str(record.offset).encode()),
            ("dlq.consumer", self._consumer.encode()),
        ]
        assert self._producer is not None, "DeadLetters.start() first"
        await self._producer.send_and_wait(self._topic, record.value, key=record.key, headers=headers)
        self.count += 1
        DEAD_LETTERED.labels(record.topic.removeprefix(self._settings.topic_prefix)).inc()
        log.warning(
            "dead-lettered a record",
            extra={"reason": reason, "topic": record.topic, "partition": record.partition, "offset": record.offset},
        )
