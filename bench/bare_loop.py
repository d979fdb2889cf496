"""The ceiling: a bare aiokafka consume → produce loop on the same broker, with the same security.

Topic A is filled with ``records`` anomaly-sized records keyed over 10,000 meters; then one consumer
reads A from the start and a producer (acks=all, as the services' writes) sends each record to B.
Records per second from the first fetch to the last record acknowledged. Nothing is decoded or
decided: every figure of the system is also shown as a fraction of this.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timezone
from typing import Any, Callable

from shared.config import Settings
from shared.kafka import clients
from shared.kafka.admin import ensure_topics
from shared.kafka.reader import assign_all

SOURCE, SINK = "bench.bare.in", "bench.bare.out"


async def run(bootstrap: str, *, records: int, partitions: int, say: Callable[[str], None] = print) -> dict[str, Any]:
    """Fill topic A, then copy it to B; the loop's records per second."""
    settings = Settings(kafka_bootstrap_servers=bootstrap, topic_prefix=f"bare{uuid.uuid4().hex[:6]}.", topic_partitions=partitions)
    await ensure_topics(settings, [SOURCE, SINK])
    await _fill(settings, records, say)
    consumer = clients.consumer(settings, enable_auto_commit=False, max_poll_records=2000)
    producer = clients.producer(settings, acks="all", linger_ms=5)
    await consumer.start()
    await producer.start()
    try:
        source = await assign_all(consumer, [settings.topic(SOURCE)])
        await consumer.seek_to_beginning(*source)
        sink, copied = settings.topic(SINK), 0
        began = time.perf_counter()
        while copied < records:
            for batch in (await consumer.getmany(timeout_ms=1000, max_records=2000)).values():
                for record in batch:
                    await producer.send(sink, record.value, key=record.key)
                copied += len(batch)
        await producer.flush()
        elapsed = time.perf_counter() - began
    finally:
        await producer.stop()
        await consumer.stop()
    rate = round(records / elapsed)
    return {
        "key": "bare", "scenario": "bare consume → produce loop (the ceiling)",
        "note": f"{records:,} records of an anomaly's size, one aiokafka consumer and producer (acks=all), TLS + SASL",
        "count": records, "throughput_per_s": rate, "seconds": round(elapsed, 2),
    }


async def _fill(settings: Settings, records: int, say: Callable[[str], None]) -> None:
    producer = clients.producer(settings, acks=1, linger_ms=20)
    await producer.start()
    try:
        topic, now = settings.topic(SOURCE), datetime.now(timezone.utc).isoformat()
        for i in range(records):
            meter = f"conn-bare-{i % 10_000:05d}"
            body = {"signal_id": f"bare-{i}", "connection_id": meter, "type": "unauthorized_access", "severity": "high",
                    "observed_at": now, "evidence": {"bench": True}}  # fmt: skip
            await producer.send(topic, json.dumps(body).encode(), key=meter.encode())
            if i and i % 50_000 == 0:
                say(f"  filled {i:,} of {records:,}")
        await producer.flush()
    finally:
        await producer.stop()
