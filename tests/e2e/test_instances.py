"""Two instances each of the incident and connection services, as processes: a burst, a crash, nothing lost or doubled."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.kafka import clients
from shared.config import Settings
from shared.kafka.reader import assign_all, read_to_end
from shared.processes import System
from shared.topics import CONNECTION_EVENTS, INCIDENT_EVENTS, SENSOR_ANOMALIES
from tests.factories import TEST_SECRET, LoopbackServer, bearer, eventually

pytestmark = pytest.mark.integration
ENFORCEMENT_SECRET = "instances-enforcement-secret-0123456789"
METERS = 120
PROCESSES = ("incident", "incident/1", "connection", "connection/1")


@pytest.fixture
def system(kafka_bootstrap: str, tmp_path: Path, topic_prefix: str):
    """Both instances of both services, an enforcement peer that acknowledges everything."""
    peer = LoopbackServer(path="/enforce")
    running = System(
        bootstrap=kafka_bootstrap,
        prefix=topic_prefix,
        data_dir=tmp_path / "services",
        secret=TEST_SECRET,
        extra_env={
            "SMGUARD_ENFORCEMENT_URL": peer.url,
            "SMGUARD_ENFORCEMENT_SECRET": ENFORCEMENT_SECRET,
            "SMGUARD_ENFORCEMENT_SWEEP_SECONDS": "0.2",
            "SMGUARD_TOPIC_PARTITIONS": "4",
        },
    )
    running.peer = peer  # type: ignore[attr-defined]
    try:
        running.start(*PROCESSES)
        yield running
    finally:
        running.stop()
        peer.stop()


async def test_a_burst_survives_an_instance_of_each_service_killed_mid_way(system: System) -> None:
    settings = Settings(kafka_bootstrap_servers=system.bootstrap, topic_prefix=system.prefix, jwt_secret=TEST_SECRET)
    connections = await asyncio.to_thread(_register, system, settings, METERS)
    signals = [(c, f"sig-{uuid.uuid4().hex[:10]}") for c in connections for _ in range(2)]
    half = len(signals) // 2
    await _anomalies(settings, signals[:half] + signals[:10])  # the first ten twice: a sensor's retry
    await asyncio.to_thread(system.stop, "incident/1", "connection/1", kill=True)
    await _anomalies(settings, signals[half:])
    await eventually(lambda: _all_blocked(system, settings, connections), timeout=120, what="every meter blocked")
    incident_events = await _events(settings, INCIDENT_EVENTS)
    connection_events = await _events(settings, CONNECTION_EVENTS)

    decided = Counter(e["data"]["signal_id"] for e in incident_events if e["type"].endswith(("AnomalyDetected", "AnomalyAttached")))
    assert set(decided) == {s for _, s in signals} and set(decided.values()) == {1}
    opened = Counter(e["data"].get("connection_id") for e in incident_events if e["type"].endswith("IncidentOpened"))
    assert set(opened) == set(connections) and set(opened.values()) == {1}
    blocked = Counter(e["subject"] for e in connection_events if e["type"].endswith("ConnectionBlocked"))
    assert set(blocked) == set(connections) and set(blocked.values()) == {1}
    requests = await eventually(lambda: _requests_by_meter(system, connections), timeout=60, what="every request received")
    assert all(len(ids) == 1 for ids in requests.values())  # a repeat, if any, carries the same request id

    for service in ("incident", "connection"):
        owned = httpx.get(f"{system.url(service)}/readyz", timeout=5).json()["event_store"]["owned"]
        assert owned == [0, 1, 2, 3], f"{service}: the survivor owns every partition"
    await asyncio.to_thread(system.start, "incident/1", "connection/1")
    for name in PROCESSES:
        answer = httpx.post(
            f"{system.url(name)}/incidents" if name.startswith("incident") else f"{system.url(name)}/connections/{connections[0]}/approvals",
            json=_report() if name.startswith("incident") else {"note": "確認済み"},
            headers=bearer(settings, "utility_soc"), timeout=30,
        )  # fmt: skip
        assert answer.status_code in (201, 409), (name, answer.text)  # 409: still blocked — the rule, not a failure


def _register(system: System, settings: Settings, count: int) -> list[str]:
    soc, operator = bearer(settings, "utility_soc"), f"op-{uuid.uuid4().hex[:6]}"
    with httpx.Client(timeout=30) as http:
        onboard = {"operator_id": operator, "name": "東海スマートエナジー", "agreement_date": "2026-04-01"}
        http.post(f"{system.url('connection')}/operators", json=onboard, headers=soc).raise_for_status()
        ids = []
        for i in range(count):
            body = {"operator_id": operator, "kind": "special_meter", "maker": "M", "model": "X", "firmware": "1.0",
                    "smart_meter_ids": [f"SM-{i}"], "secrets": {"auth_id": f"A-{i:06d}", "password": "p4ssword-x", "pairing_id": f"P-{i:06d}"}}
            url = system.url("connection" if i % 2 else "connection/1")  # either instance takes a registration
            ids.append(http.post(f"{url}/connections", json=body, headers=soc).raise_for_status().json()["id"])
    return ids


async def _anomalies(settings: Settings, signals: list[tuple[str, str]]) -> None:
    producer = clients.producer(settings, acks="all")
    await producer.start()
    try:
        now = datetime.now(timezone.utc).isoformat()
        for connection, signal in signals:
            body = {"signal_id": signal, "connection_id": connection, "type": "unauthorized_access",
                    "severity": "high", "observed_at": now}  # fmt: skip
            await producer.send(settings.topic(SENSOR_ANOMALIES), json.dumps(body).encode(), key=connection.encode())
        await producer.flush()
    finally:
        await producer.stop()


def _all_blocked(system: System, settings: Settings, connections: list[str]) -> bool:
    headers = bearer(settings, "utility_soc")
    listed = httpx.get(f"{system.url('connection')}/connections", params={"status": "blocked", "limit": 500}, headers=headers, timeout=10)
    return listed.status_code == 200 and listed.json()["total"] == len(connections)


async def _events(settings: Settings, base: str) -> list[dict[str, Any]]:
    consumer = clients.consumer(settings, isolation_level="read_committed")
    await consumer.start()
    try:
        partitions = await assign_all(consumer, [settings.topic(base)])
        await consumer.seek_to_beginning(*partitions)
        return [json.loads(r.value) async for batch in read_to_end(consumer, partitions) for r in batch]
    finally:
        await consumer.stop()


def _requests_by_meter(system: System, connections: list[str]) -> dict[str, set[str]] | None:
    found: dict[str, set[str]] = {}
    for request in system.peer.payloads():  # type: ignore[attr-defined]
        found.setdefault(request["connection_id"], set()).add(request["request_id"])
    return found if set(found) >= set(connections) else None


def _report() -> dict[str, Any]:
    return {"category": "other", "severity": "low", "title": "点検", "detected_at": "2026-04-01T09:00:00+09:00",
            "operator_id": "op-any"}  # fmt: skip
