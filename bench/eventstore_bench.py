"""The event store's append path: one-event appends from many concurrent callers (group commit)."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime, timezone
from typing import Any

from shared.config import Settings
from shared.events.incident import AnomalyAttached
from shared.eventstore.kafka import KafkaEventStore
from shared.kafka.admin import ensure_topics
from shared.topics import INCIDENT_EVENTS

from bench.harness import percentiles


def _event(incident: str) -> AnomalyAttached:
    return AnomalyAttached(
        incident_id=incident,
        signal_id=uuid.uuid4().hex,
        connection_id="conn-bench",
        operator_id="op-bench",
        anomaly_type="abnormal_communication",
        severity="high",
        observed_at=datetime.now(timezone.utc),
    )


async def run(bootstrap: str, *, count: int = 5000, concurrency: int = 200) -> dict[str, Any]:
    """Append ``count`` events to distinct aggregates with ``concurrency`` callers at a time."""
    settings = Settings(kafka_bootstrap_servers=bootstrap, topic_prefix=f"bench{uuid.uuid4().hex[:6]}.")
    await ensure_topics(settings, [INCIDENT_EVENTS])
    store = KafkaEventStore(
        bootstrap=bootstrap,
        topics={INCIDENT_EVENTS: settings.topic(INCIDENT_EVENTS)},
        source="smguard/bench",
        transactional_id=settings.topic_prefix + "writer",
    )
    await store.start()
    latencies: list[float] = []
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate:
            started = time.perf_counter()
            await store.append(f"inc-{i}", [_event(f"inc-{i}")])
            latencies.append((time.perf_counter() - started) * 1000)

    began = time.perf_counter()
    await asyncio.gather(*[one(i) for i in range(count)])
    elapsed = time.perf_counter() - began
    await store.stop()
    return {
        "scenario": f"event store append ({concurrency} concurrent callers)",
        "count": count,
        "throughput_per_s": round(count / elapsed),
        **percentiles(latencies),
    }
