"""Scale: each service's start-up and memory after a long history, and two incident instances against one.

The whole system runs as ``smguard run`` starts it (four services as processes, a local enforcement
peer). The history is anomalies on the sensors' topic over 50 connections: the first on each
opens an incident and blocks it, every other one attaches — so the incident topic, the audit log
and the connection service's inbox all grow by one record per anomaly.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
import uuid
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, AsyncIterator

import httpx

from shared.kafka import clients
from bench.peer import Peer
from shared.auth import mint_token
from shared.config import Settings
from shared.envelope import Envelope, encode
from shared.events.connection import ConnectionRegistered, SealedSecrets
from shared.kafka.admin import ensure_topics
from shared.kafka.reader import assign_all
from shared.processes import System
from shared.services import SERVICES
from shared.topics import CONNECTION_EVENTS, EVENT_TOPICS, INCIDENT_EVENTS, SENSOR_ANOMALIES

CONNECTIONS = 50
SECRET = "bench-signing-key-0123456789-0123456789"
ENFORCEMENT_SECRET = "bench-enforcement-secret-0123456789-0123"


async def run(bootstrap: str, *, history: int = 1_000_000, small: int = 1_000, intake: int = 20_000) -> list[dict[str, Any]]:
    """Start-up and memory after ``small`` and ``history`` anomalies; the intake with one and two instances."""
    rows = []
    for size in (small, history):
        print(f"  history of {size:,} anomalies …", flush=True)
        rows.append(await _after_history(bootstrap, size))
    for instances in (1, 2):
        print(f"  intake with {instances} incident instance(s) …", flush=True)
        rows.append(await _intake(bootstrap, intake, instances))
    one, two = rows[-2]["throughput_per_s"], rows[-1]["throughput_per_s"]
    rows[-1]["ratio_to_one_instance"] = round(two / one, 2) if one else None
    return rows


async def _after_history(bootstrap: str, size: int) -> dict[str, Any]:
    async with loaded(bootstrap, size) as (system, settings, processing):
        events = await _events(settings)
        record_bytes = await _mean_record_bytes(settings)
        disk = _disk_mb(system.data_dir)
        memory = {s: _rss_mb(system, s) for s in SERVICES}
        startup = {s: await _restart(system, s) for s in SERVICES}
        folded = {s: _folded_at_restore(system, s) for s in ("incident", "connection", "notification")}
    return {
        "key": "scale", "scenario": f"after a history of {size:,} anomalies ({events:,} records on the event topics)",
        "count": events, "throughput_per_s": round(size / processing),
        "startup_s": startup, "rss_mb": memory, "folded_at_restore": folded, "incident_record_bytes": record_bytes, "disk_mb": disk,
    }  # fmt: skip


@asynccontextmanager
async def loaded(bootstrap: str, size: int) -> AsyncIterator[tuple[System, Settings, float]]:
    """The whole system after a history of ``size`` anomalies, every service caught up; yields it, its
    settings and the seconds the history took. Everything is stopped and deleted afterwards."""
    peer = Peer(ENFORCEMENT_SECRET)
    url = await peer.start()
    with tempfile.TemporaryDirectory(prefix="smguard-bench-scale-") as tmp:
        system = _system(bootstrap, Path(tmp), {"SMGUARD_ENFORCEMENT_URL": url, "SMGUARD_ENFORCEMENT_SECRET": ENFORCEMENT_SECRET})
        try:
            await asyncio.to_thread(system.start)
            settings = _settings(bootstrap, system)
            headers = {"Authorization": f"Bearer {mint_token(settings, role='utility_soc')}"}
            async with httpx.AsyncClient(timeout=30) as client:
                connections = await _register(client, system, headers, CONNECTIONS + 1)
                await _wait_known(client, system, connections.pop(), headers)
            began = time.perf_counter()
            await _anomalies(settings, connections, size)
            await _settled(system, settings, timeout=600)
            yield system, settings, time.perf_counter() - began
        finally:
            await asyncio.to_thread(system.stop)
            await peer.stop()


async def _intake(bootstrap: str, count: int, instances: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="smguard-bench-intake-") as tmp:
        system = _system(bootstrap, Path(tmp), {})
        try:
            settings = _settings(bootstrap, system)
            connections = await _known_connections(settings, CONNECTIONS)
            await asyncio.to_thread(system.start, *["incident" if k == 0 else f"incident/{k}" for k in range(instances)])
            began = time.perf_counter()
            await _anomalies(settings, connections, count)
            await _decided(settings)
            elapsed = time.perf_counter() - began
        finally:
            await asyncio.to_thread(system.stop)
    return {
        "key": "scale", "scenario": f"incident intake with {instances} instance(s): {count:,} anomalies on {CONNECTIONS} connections "
        f"(both instances share 2 cores with the broker)",
        "count": count, "throughput_per_s": round(count / elapsed),
    }  # fmt: skip


def _system(bootstrap: str, data: Path, extra: dict[str, str]) -> System:
    return System(
        bootstrap=bootstrap, prefix=f"sc{uuid.uuid4().hex[:6]}.", data_dir=data, secret=SECRET,
        extra_env={"SMGUARD_LOG_LEVEL": "WARNING", "SMGUARD_TOPIC_PARTITIONS": "4", **extra},
    )  # fmt: skip


def _settings(bootstrap: str, system: System) -> Settings:
    return Settings(kafka_bootstrap_servers=bootstrap, topic_prefix=system.prefix, jwt_secret=SECRET, topic_partitions=4)


async def _anomalies(settings: Settings, connections: list[str], count: int) -> None:
    producer = clients.producer(settings, linger_ms=20, acks=1)
    await producer.start()
    try:
        topic, now, marker = settings.topic(SENSOR_ANOMALIES), datetime.now(timezone.utc).isoformat(), uuid.uuid4().hex[:6]
        for i in range(count):
            connection = connections[i % len(connections)]
            body = {"signal_id": f"{marker}-{i}", "connection_id": connection, "type": "unauthorized_access",
                    "severity": "high", "observed_at": now}  # fmt: skip
            await producer.send(topic, json.dumps(body).encode(), key=connection.encode())
        await producer.flush()
    finally:
        await producer.stop()


async def _register(client: httpx.AsyncClient, system: System, headers: dict, count: int) -> list[str]:
    """An operator and ``count`` connections of its, registered over HTTP."""
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
        body = {"signal_id": uuid.uuid4().hex, "connection_id": connection, "type": "unauthorized_access",
                "severity": "high", "observed_at": datetime.now(timezone.utc).isoformat()}  # fmt: skip
        if (await client.post(f"{system.url('incident')}/anomalies", json=body, headers=headers)).status_code == 202:
            return
        await asyncio.sleep(0.2)
    raise TimeoutError("the incident service never learned the connections")


async def _known_connections(settings: Settings, count: int) -> list[str]:
    """Connections the incident service learns from the connection topic (written here as that service would)."""
    await ensure_topics(settings)
    producer = clients.producer(settings, acks="all")
    await producer.start()
    ids = [f"conn-{uuid.uuid4()}" for _ in range(count)]
    try:
        for connection in ids:
            event = ConnectionRegistered(
                connection_id=connection, operator_id="op-bench", kind="special_meter", maker="M", model="X",
                firmware="1.0", secrets=SealedSecrets(ciphertext="x", fingerprint="f", hints={}),
            )  # fmt: skip
            message = encode(Envelope(event=event, subject=connection, sequence=1, source="smguard/bench", operator_id="op-bench"))
            await producer.send_and_wait(settings.topic(CONNECTION_EVENTS), message.value, key=message.key)
    finally:
        await producer.stop()
    return ids


async def _decided(settings: Settings, *, stall: float = 300.0) -> None:
    """Until the incident service's group has committed every record of the sensors' topic (all decided);
    prints progress every 30 s, gives up only when nothing moves for ``stall`` seconds."""
    group, last, moved, shown = f"{settings.topic_prefix}smguard.incident", -1, time.monotonic(), time.monotonic()
    while True:
        done, total = await _group_progress(settings, group, SENSOR_ANOMALIES)
        if total and done >= total:
            return
        if done > last:
            last, moved = done, time.monotonic()
        elif time.monotonic() - moved > stall:
            raise TimeoutError(f"the incident service decided nothing for {stall:.0f} s ({done:,} of {total:,})")
        if time.monotonic() - shown > 30:
            print(f"    decided {done:,} of {total:,} anomalies", flush=True)
            shown = time.monotonic()
        await asyncio.sleep(1.0)


async def _settled(system: System, settings: Settings, *, timeout: float) -> None:
    """Until every anomaly is decided and every service has caught up with its topics."""
    await _decided(settings)
    await _until(lambda: asyncio.to_thread(_all_caught_up, system), timeout)


def _all_caught_up(system: System) -> bool:
    for service in SERVICES:
        try:
            answer = httpx.get(f"{system.url(service)}/readyz", timeout=5).json()
        except (httpx.HTTPError, ValueError):
            return False
        if any(p.get("lag") != 0 for p in answer.get("projections", {}).values()):
            return False
    return True


async def _group_progress(settings: Settings, group: str, base: str) -> tuple[int, int]:
    """Records of a topic the group has committed past, and records in it."""
    admin = clients.admin(settings)
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    mine = {tp: meta.offset for tp, meta in committed.items() if tp.topic == settings.topic(base)}
    if not mine:
        return 0, 0  # nothing committed yet (a consumer stopped at once would trip over aiokafka's start-up)
    consumer = clients.consumer(settings)
    await consumer.start()
    try:
        ends = await consumer.end_offsets(await assign_all(consumer, [settings.topic(base)]))
    finally:
        await consumer.stop()
    return sum(min(mine.get(tp, 0), end) for tp, end in ends.items()), sum(ends.values())


async def _events(settings: Settings) -> int:
    consumer = clients.consumer(settings)
    await consumer.start()
    try:
        partitions = await assign_all(consumer, [settings.topic(base) for base in EVENT_TOPICS])
        return sum((await consumer.end_offsets(partitions)).values())
    finally:
        await consumer.stop()


async def _mean_record_bytes(settings: Settings, sample: int = 2_000) -> int:
    """The mean size of the latest records on the incident topic (what retention and broker disks are sized by)."""
    consumer = clients.consumer(settings, isolation_level="read_committed")
    await consumer.start()
    try:
        partitions = await assign_all(consumer, [settings.topic(INCIDENT_EVENTS)])
        ends = await consumer.end_offsets(partitions)
        for tp in partitions:
            consumer.seek(tp, max(0, ends[tp] - sample // len(partitions)))
        sizes: list[int] = []
        batches = await consumer.getmany(*partitions, timeout_ms=5_000, max_records=sample)
        for records in batches.values():
            sizes += [len(r.value or b"") + len(r.key or b"") for r in records]
        return round(sum(sizes) / len(sizes)) if sizes else 0
    finally:
        await consumer.stop()


def _disk_mb(data_dir: Path) -> dict[str, float]:
    """What the services keep on local disk: snapshots (state), read models, the audit log."""
    return {
        folder: round(sum(f.stat().st_size for f in (data_dir / folder).rglob("*") if f.is_file()) / 2**20, 1)
        for folder in ("state", "readmodels", "audit")
        if (data_dir / folder).exists()
    }


async def _restart(system: System, service: str) -> float:
    """Seconds from starting a stopped service again to its readiness (broker up, history in place)."""
    await asyncio.to_thread(system.stop, service)
    began = time.perf_counter()
    await asyncio.to_thread(system.start, service, timeout=300)
    return round(time.perf_counter() - began, 1)


def _folded_at_restore(system: System, service: str) -> int | None:
    """Events a restarted service had to fold because its snapshots lacked them (0: restored, not replayed)."""
    try:
        return httpx.get(f"{system.url(service)}/readyz", timeout=5).json()["event_store"]["folded_at_restore"]
    except (httpx.HTTPError, ValueError, KeyError):
        return None


def _rss_mb(system: System, service: str) -> float:
    assert system.supervisor is not None
    pid = system.supervisor.children[service].pid
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


async def _until(check: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError("the system did not settle in time")
        await asyncio.sleep(1.0)


if __name__ == "__main__":  # a quick run: python -m bench.scale_bench (with KAFKA_BOOTSTRAP_SERVERS set)
    print(asyncio.run(run(os.environ["KAFKA_BOOTSTRAP_SERVERS"], history=int(os.environ.get("HISTORY", "20000")))))
