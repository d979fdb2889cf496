"""faust-streaming apps for stream agents (e.g. bulk sensor input), sharing the service's event loop."""

from __future__ import annotations

from typing import Any

import faust
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

from shared.config import Settings
from shared.kafka import clients

_create_worker_consumer = AIOKafkaConsumerThread._create_worker_consumer


def _read_committed(self: AIOKafkaConsumerThread, transport: Any) -> Any:
    """faust's worker consumer, reading only committed records.

    faust reads uncommitted records unless its own exactly-once processing (transactions it manages)
    is on, and has no setting for the isolation level alone. The event topics are written in Kafka
    transactions that a fenced or failing writer aborts: an agent must never see those events.
    """
    consumer = _create_worker_consumer(self, transport)
    consumer._isolation_level = "read_committed"  # read when the consumer starts its fetcher
    return consumer


AIOKafkaConsumerThread._create_worker_consumer = _read_committed  # type: ignore[method-assign]


def faust_app(settings: Settings, *, service: str, **overrides: Any) -> faust.App:
    """A faust app for one service: no web server of its own (FastAPI serves HTTP), in-memory tables.

    Started and stopped by the service's runtime (``faust.contrib.asgi.faust_app_running``), so it
    shares uvicorn's loop. Agents decode payloads with pydantic at the edge: topics carry raw bytes.
    """
    datadir = settings.data_dir / "faust" / f"{service}-{settings.instance}"
    datadir.mkdir(parents=True, exist_ok=True)  # faust makes only the last folder of its datadir
    options: dict[str, Any] = {
        **clients.faust_options(settings),
        "web_enabled": False,
        "store": "memory://",
        "topic_partitions": settings.topic_partitions,
        "topic_replication_factor": settings.topic_replication_factor,
        "topic_disable_leader": True,
        "consumer_auto_offset_reset": "earliest",
        "producer_acks": -1,
        "broker_commit_interval": 1.0,
        # A killed instance's agent partitions move as soon as the store's partitions do (faust's default is 60 s).
        "broker_session_timeout": settings.group_session_seconds,
        "broker_heartbeat_interval": max(1.0, settings.group_session_seconds / 6),
        "autodiscover": False,
        "datadir": str(datadir),  # not the working directory
    }
    options.update(overrides)
    return faust.App(f"{settings.topic_prefix}smguard-{service}", **options)
