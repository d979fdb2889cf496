"""The hot path, end to end: anomaly on the sensor topic → incident → block → enforcement request.

The incident and connection services run as real processes (as ``smguard run`` starts them); the
enforcement peer is an HTTP server in this process, so send and receipt share one clock. Each
anomaly names a connection of its own, so each one opens an incident, is blocked by the ``auto``
policy and reaches the peer as one enforcement request.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI, Request

from shared.kafka import clients
from bench.harness import percentiles
from shared.auth import mint_token
from shared.config import Settings
from shared.localbroker import broker_module
from shared.processes import System
from shared.topics import SENSOR_ANOMALIES

SECRET = "bench-signing-key-0123456789-0123456789"


class Peer:
    """The enforcement peer: acknowledges every request and notes when it arrived."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.arrived_wall: dict[str, float] = {}
        self.app = FastAPI()
        self.app.post("/enforce")(self.enforce)

    async def enforce(self, request: Request) -> dict[str, str]:
        body = await request.json()
        self.arrived.setdefault(body["connection_id"], time.perf_counter())
        self.arrived_wall.setdefault(body["connection_id"], time.time())
        return {"status": "ok"}


async def _register(client: httpx.AsyncClient, system: System, headers: dict, count: int) -> list[str]:
    operator = f"op-bench-{uuid.uuid4().hex[:6]}"
    url = system.url("connection")
    body = {"operator_id": operator, "name": "ベンチ事業者", "agreement_date": "2026-04-01"}
    (await client.post(f"{url}/operators", json=body, headers=headers)).raise_for_status()
    gate = asyncio.Semaphore(50)

    async def one(i: int) -> str:
        connection = {
            "operator_id": operator, "kind": "special_meter", "maker": "M", "model": "X", "firmware": "1.0.0",
            "smart_meter_ids": [f"sm-{i}"], "secrets": {"auth_id": f"a{i}", "password": f"p{i}", "pairing_id": f"q{i}"},
        }
        async with gate:
            response = await client.post(f"{url}/connections", json=connection, headers=headers)
        return response.raise_for_status().json()["id"]

    return list(await asyncio.gather(*[one(i) for i in range(count)]))


async def _wait_known(client: httpx.AsyncClient, system: System, connection: str, headers: dict) -> None:
    """The incident service knows a connection once an anomaly on it is accepted over HTTP."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        body = _anomaly(connection)
        if (await client.post(f"{system.url('incident')}/anomalies", json=body, headers=headers)).status_code == 202:
            return
        await asyncio.sleep(0.2)
    raise TimeoutError("the incident service never learned the connections")


def _anomaly(connection: str) -> dict[str, Any]:
    return {
        "signal_id": uuid.uuid4().hex, "connection_id": connection, "type": "unauthorized_access",
        "severity": "high", "observed_at": datetime.now(timezone.utc).isoformat(), "evidence": {"bench": True},
    }


async def _measure(producer: AIOKafkaProducer, topic: str, peer: Peer, connections: list[str], rate: float | None) -> tuple[list[float], float]:
    sent: dict[str, float] = {}
    began = time.perf_counter()
    for i, connection in enumerate(connections):
        if rate:
            await asyncio.sleep(max(0.0, began + i / rate - time.perf_counter()))
        sent[connection] = time.perf_counter()
        await producer.send(topic, json.dumps(_anomaly(connection)).encode(), key=connection.encode())
    await producer.flush()
    deadline = time.monotonic() + 120
    while not all(c in peer.arrived for c in connections) and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    done = [c for c in connections if c in peer.arrived]
    elapsed = max(peer.arrived[c] for c in done) - began if done else float("inf")
    return [(peer.arrived[c] - sent[c]) * 1000 for c in done], elapsed


async def run(
    bootstrap: str, *, latency_count: int = 300, rate: float = 100.0, burst: int = 3000, intake_count: int = 20000
) -> list[dict[str, Any]]:
    """Latency at a steady ``rate``; a ``burst`` of blocks at once; the incident service's anomaly intake."""
    peer = Peer()
    port = broker_module().free_port()
    server = uvicorn.Server(uvicorn.Config(peer.app, host="127.0.0.1", port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    with tempfile.TemporaryDirectory(prefix="smguard-bench-") as tmp:
        system = System(bootstrap=bootstrap, prefix=f"hot{uuid.uuid4().hex[:6]}.", data_dir=Path(tmp), secret=SECRET,
                        extra_env={"SMGUARD_ENFORCEMENT_URL": f"http://127.0.0.1:{port}/enforce",
                                   "SMGUARD_LOG_LEVEL": "WARNING"})
        await asyncio.to_thread(system.start, "incident", "connection")
        settings = Settings(kafka_bootstrap_servers=bootstrap, topic_prefix=system.prefix, jwt_secret=SECRET)
        headers = {"Authorization": f"Bearer {mint_token(settings, role='utility_soc')}"}
        producer = clients.producer(Settings(kafka_bootstrap_servers=bootstrap), linger_ms=1)
        try:
            async with httpx.AsyncClient(timeout=30) as client:
                connections = await _register(client, system, headers, latency_count + burst + 1)
                await _wait_known(client, system, connections.pop(), headers)
            await producer.start()
            topic = settings.topic(SENSOR_ANOMALIES)
            steady, _ = await _measure(producer, topic, peer, connections[:latency_count], rate)
            burst_latency, elapsed = await _measure(producer, topic, peer, connections[latency_count:], None)
            stages = await stage_times(bootstrap, system.prefix)
            intake = await _intake(producer, settings, connections[:50], count=intake_count)
        finally:
            await producer.stop()
            await asyncio.to_thread(system.stop)
            server.should_exit = True
            await serving
    return [
        {"scenario": f"hot path at {rate:.0f} anomalies/s (anomaly → enforcement request)", "count": len(steady),
         "throughput_per_s": round(rate), **percentiles(steady),
         "stages_p50_ms": _stage_medians(stages, peer, connections[:latency_count])},
        {"scenario": f"hot path burst of {burst} anomalies sent at once", "count": len(burst_latency),
         "throughput_per_s": round(len(burst_latency) / elapsed), **percentiles(burst_latency),
         "stages_p50_ms": _stage_medians(stages, peer, connections[latency_count:])},
        intake,
    ]


async def _intake(producer: AIOKafkaProducer, settings: Settings, connections: list[str], *, count: int) -> dict[str, Any]:
    """``count`` anomalies over 50 connections with open incidents: each one attaches (no new block)."""

    from shared.kafka.reader import assign_all
    from shared.topics import INCIDENT_EVENTS

    consumer = clients.consumer(settings, isolation_level="read_committed")
    await consumer.start()
    partitions = await assign_all(consumer, [settings.topic(INCIDENT_EVENTS)])
    await consumer.seek_to_end(*partitions)
    marker = uuid.uuid4().hex[:8]
    began = time.perf_counter()
    for i in range(count):
        body = {**_anomaly(connections[i % len(connections)]), "signal_id": f"{marker}-{i}"}
        await producer.send(settings.topic(SENSOR_ANOMALIES), json.dumps(body).encode(), key=body["connection_id"].encode())
    await producer.flush()
    seen, deadline = 0, time.monotonic() + 120
    while seen < count and time.monotonic() < deadline:
        for records in (await consumer.getmany(timeout_ms=200, max_records=5000)).values():
            seen += sum(1 for r in records if f'"{marker}-'.encode() in r.value and b"AnomalyAttached" in r.value)
    elapsed = time.perf_counter() - began
    await consumer.stop()
    return {"scenario": f"incident intake: {count} anomalies on 50 connections with open incidents (attach)",
            "count": seen, "throughput_per_s": round(seen / elapsed)}


def _stage_medians(stages: dict[str, dict[str, float]], peer: Peer, connections: list[str]) -> dict[str, float]:
    """Median time spent in each step: incident service, connection service, enforcement request."""
    spans: dict[str, list[float]] = {"incident": [], "connection": [], "enforcement": []}
    for c in connections:
        times = stages.get(c, {})
        if {"sent", "detected", "blocked"} <= set(times) and c in peer.arrived_wall:
            spans["incident"].append(times["detected"] - times["sent"])
            spans["connection"].append(times["blocked"] - times["detected"])
            spans["enforcement"].append(peer.arrived_wall[c] * 1000 - times["blocked"])
    return {name: round(sorted(v)[len(v) // 2], 1) for name, v in spans.items() if v}


async def stage_times(bootstrap: str, prefix: str) -> dict[str, dict[str, float]]:
    """Per connection, the broker time (ms) of its anomaly record, AnomalyDetected and ConnectionBlocked."""

    from shared.kafka.reader import assign_all, read_to_end
    from shared.topics import CONNECTION_EVENTS, INCIDENT_EVENTS

    consumer = clients.consumer(Settings(kafka_bootstrap_servers=bootstrap), isolation_level="read_committed")
    await consumer.start()
    stages: dict[str, dict[str, float]] = {}
    try:
        topics = [prefix + SENSOR_ANOMALIES, prefix + INCIDENT_EVENTS, prefix + CONNECTION_EVENTS]
        partitions = await assign_all(consumer, topics)
        await consumer.seek_to_beginning(*partitions)
        async for batch in read_to_end(consumer, partitions):
            for record in batch:
                body = json.loads(record.value)
                if record.topic.endswith(SENSOR_ANOMALIES):
                    stages.setdefault(body["connection_id"], {})["sent"] = record.timestamp
                elif body["type"].endswith(".AnomalyDetected"):
                    stages.setdefault(body["data"]["connection_id"], {})["detected"] = record.timestamp
                elif body["type"].endswith(".ConnectionBlocked"):
                    stages.setdefault(body["data"]["connection_id"], {})["blocked"] = record.timestamp
    finally:
        await consumer.stop()
    return stages
