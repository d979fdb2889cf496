"""The event store's append path: one-event appends from many concurrent callers (group commit per partition)."""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from shared.kafka import clients
from services.incident.domain.commands import OpenIncident
from services.incident.domain.model import Incident
from shared.config import Settings
from shared.eventstore import Context
from shared.eventstore.kafka import KafkaEventStore, Layout
from shared.kafka.admin import ensure_topics
from shared.principal import Principal
from shared.repository import Repository
from shared.topics import INCIDENT_EVENTS, INCIDENT_STATE, SENSOR_ANOMALIES

from bench.harness import percentiles


SOC = Principal(sub="bench", role="utility_soc")
REPORT = OpenIncident(category="unauthorized_access", severity="high", title="bench",
                      detected_at=datetime.now(timezone.utc), operator_id="op-bench")  # fmt: skip


async def run(bootstrap: str, *, count: int = 5000, concurrency: int = 200) -> dict[str, Any]:
    """Open ``count`` incidents (one event each, through the repository as a command does), ``concurrency`` at a time."""
    settings = Settings(kafka_bootstrap_servers=bootstrap, topic_prefix=f"bench{uuid.uuid4().hex[:6]}.")
    await ensure_topics(settings, [INCIDENT_EVENTS, INCIDENT_STATE, SENSOR_ANOMALIES])
    with tempfile.TemporaryDirectory(prefix="smguard-bench-store-") as tmp:
        store = KafkaEventStore(
            Layout(
                kafka=clients.access(settings), topics={INCIDENT_EVENTS: settings.topic(INCIDENT_EVENTS)},
                kinds={INCIDENT_EVENTS: Incident}, inbox=settings.topic(SENSOR_ANOMALIES),
                changelog=settings.topic(INCIDENT_STATE), group_id=f"{settings.topic_prefix}bench",
                transactional_prefix=f"{settings.topic_prefix}bench.writer", partitions=settings.topic_partitions,
                url="http://127.0.0.1:1", instance="0000", state_path=Path(tmp) / "state.sqlite",
                source="smguard/bench", key_window_seconds=86400,
            )
        )  # fmt: skip
        await store.start()
        deadline = time.monotonic() + 60
        while not store.ready:
            if time.monotonic() > deadline:
                raise TimeoutError("the store did not own its partitions within 60 s")
            await asyncio.sleep(0.05)
        latencies: list[float] = []
        gate = asyncio.Semaphore(concurrency)
        incidents = Repository(store, Incident, name="incident")

        async def one() -> None:
            async with gate:
                started = time.perf_counter()
                await incidents.create(lambda new: Incident.open(new, REPORT, by=SOC), context=Context(actor="bench"))
                latencies.append((time.perf_counter() - started) * 1000)

        began = time.perf_counter()
        await asyncio.gather(*[one() for _ in range(count)])
        elapsed = time.perf_counter() - began
        await store.stop()
    return {
        "key": "store", "scenario": f"event store append ({concurrency} concurrent callers, {settings.topic_partitions} partitions)",
        "count": count,
        "throughput_per_s": round(count / elapsed),
        **percentiles(latencies),
    }
