"""faust-streaming apps for stream agents (e.g. bulk sensor input), sharing the service's event loop."""

from __future__ import annotations

from typing import Any

import faust

from shared.config import Settings


def faust_app(settings: Settings, *, service: str, **overrides: Any) -> faust.App:
    """A faust app for one service: no web server of its own (FastAPI serves HTTP), in-memory tables.

    Started and stopped by the service's runtime (``faust.contrib.asgi.faust_app_running``), so it
    shares uvicorn's loop. Agents decode payloads with pydantic at the edge: topics carry raw bytes.
    """
    datadir = settings.data_dir / "faust"
    datadir.mkdir(parents=True, exist_ok=True)  # faust makes only the last folder of its datadir
    options: dict[str, Any] = {
        "broker": f"kafka://{settings.kafka_bootstrap_servers}",
        "web_enabled": False,
        "store": "memory://",
        "topic_partitions": settings.topic_partitions,
        "topic_replication_factor": settings.topic_replication_factor,
        "topic_disable_leader": True,
        "consumer_auto_offset_reset": "earliest",
        "producer_acks": -1,
        "broker_commit_interval": 1.0,
        "autodiscover": False,
        "datadir": str(datadir),  # not the working directory
    }
    options.update(overrides)
    return faust.App(f"{settings.topic_prefix}smguard-{service}", **options)
