"""What a service's ``replay.py`` needs to fold topics into scratch projections with the live code, sending nothing."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from shared.config import Settings
from shared.kafka.sinks import Sink
from shared.kafka.subscriber import Subscriber


class NoDeadLetters:
    """A replay sends nothing: an unreadable record is only counted (the live service dead-lettered it)."""

    def __init__(self) -> None:
        self.count = 0

    async def send(self, record: Any, reason: str) -> None:
        """Count and drop."""
        self.count += 1


def scratch_subscriber(settings: Settings, sink: Sink, *, name: str) -> Subscriber:
    """A subscriber that is fed by hand (``process``): the live decoding, dedupe and parking, no consumer."""
    return Subscriber(
        bootstrap=settings.kafka_bootstrap_servers,
        topics=[],
        sink=sink,
        dead_letters=NoDeadLetters(),  # type: ignore[arg-type]  # only send() is used
        name=f"replay.{name}",
    )


def as_consumer_record(settings: Settings, record: Any) -> SimpleNamespace:
    """What ``Subscriber.process`` reads of a Kafka record, with the full topic name the live consumer sees."""
    return SimpleNamespace(
        topic=settings.topic(record.topic),
        partition=record.partition,
        offset=record.offset,
        value=record.value,
        key=None,
        headers=(),
    )
