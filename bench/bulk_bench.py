"""Bulk registration: an operator registers ``BENCH_BULK`` meters through ``POST /connections/bulk``.

The connection service runs as a real process (as ``smguard run`` starts it) against the real
broker; the requests are built before the clock starts, then sent one after another, each with up
to ``SMGUARD_MAX_BULK_ROWS`` (10,000) rows — as JSON, and as CSV with an ``Idempotency-Key`` (every
row of a keyed request goes on the key's partition). Meters/s counts from the first request sent to
the last answered (every row committed); "visible" to when ``GET /connections`` lists them all; and
the connection service's CPU time per meter (user + system, from ``/proc``: what a figure on a busy
machine cannot hide).
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from bench.harness import percentiles
from bench.scenarios import BULK_GOAL, Bench, scenario
from shared.auth import mint_token
from shared.config import Settings
from shared.processes import System

SECRET = "bench-signing-key-0123456789-0123456789"
PER_REQUEST = 10_000
CSV_HEADER = "kind,maker,model,firmware,smart_meter_ids,auth_id,password,pairing_id"


def _json_body(start: int, count: int) -> bytes:
    rows = [
        {"kind": "special_meter", "maker": "東海計器", "model": "TK-100", "firmware": "2.1.0", "smart_meter_ids": [f"SM-{i:08d}"],
         "secrets": {"auth_id": f"AUTH-{i:08d}", "password": f"pw-{uuid.uuid4().hex}", "pairing_id": f"PAIR-{i:08d}"}}
        for i in range(start, start + count)
    ]  # fmt: skip
    return json.dumps(rows, ensure_ascii=False).encode()


def _csv_body(start: int, count: int) -> bytes:
    lines = [CSV_HEADER] + [
        f"special_meter,東海計器,TK-100,2.1.0,SM-{i:08d},AUTH-{i:08d},pw-{uuid.uuid4().hex},PAIR-{i:08d}"
        for i in range(start, start + count)
    ]
    return ("\r\n".join(lines) + "\r\n").encode()


async def _onboard(client: httpx.AsyncClient, url: str, soc: dict[str, str]) -> str:
    operator = f"op-bulk-{uuid.uuid4().hex[:6]}"
    body = {"operator_id": operator, "name": "一括登録ベンチ", "agreement_date": "2026-04-01"}
    deadline = time.monotonic() + 60
    while (answer := await client.post(f"{url}/operators", json=body, headers=soc)).status_code == 503:
        if time.monotonic() > deadline:  # partitions still being rebalanced a minute after ready
            break
        await asyncio.sleep(0.5)
    answer.raise_for_status()
    return operator


async def _send(
    client: httpx.AsyncClient, url: str, bodies: list[bytes], headers: dict[str, str], *, keyed: bool
) -> tuple[list[float], float, int]:
    """Send the bodies one after another; latencies (ms), elapsed seconds, rows registered."""
    latencies, registered = [], 0
    began = time.perf_counter()
    for body in bodies:
        key = {"Idempotency-Key": uuid.uuid4().hex} if keyed else {}
        started = time.perf_counter()
        answer = await client.post(f"{url}/connections/bulk", content=body, headers={**headers, **key})
        latencies.append((time.perf_counter() - started) * 1000)
        if answer.status_code != 200:
            raise RuntimeError(f"bulk registration answered {answer.status_code}: {answer.text[:300]}")
        registered += answer.json()["registered"]
    return latencies, time.perf_counter() - began, registered


def _cpu_seconds(system: System, service: str) -> float:
    """User + system CPU time a service's process has used so far (Linux ``/proc``)."""
    assert system.supervisor is not None
    pid = system.supervisor.children[service].pid
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _visible(client: httpx.AsyncClient, url: str, operator: str, headers: dict[str, str], count: int) -> None:
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        page = await client.get(f"{url}/connections", params={"operator_id": operator, "limit": 1}, headers=headers)
        if page.status_code == 200 and page.json()["total"] >= count:
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"GET /connections did not list {count} connections within 600 s")


async def run(bootstrap: str, *, count: int = 100_000, csv_count: int | None = None) -> list[dict[str, Any]]:
    """``count`` meters as JSON requests, then ``csv_count`` (default a fifth) as CSV with an Idempotency-Key."""
    csv_count = max(1, count // 5) if csv_count is None else csv_count
    with tempfile.TemporaryDirectory(prefix="smguard-bench-bulk-") as tmp:
        system = System(bootstrap=bootstrap, prefix=f"bulk{uuid.uuid4().hex[:6]}.", data_dir=Path(tmp), secret=SECRET,
                        extra_env={"SMGUARD_LOG_LEVEL": "WARNING"})  # fmt: skip
        await asyncio.to_thread(system.start, "connection")
        try:
            settings = Settings(kafka_bootstrap_servers=bootstrap, topic_prefix=system.prefix, jwt_secret=SECRET)
            soc = {"Authorization": f"Bearer {mint_token(settings, role='utility_soc')}"}
            url = system.url("connection")
            rows = []
            async with httpx.AsyncClient(timeout=600) as client:
                for fmt, total, make, media, keyed in (
                    ("JSON", count, _json_body, "application/json", False),
                    ("CSV, Idempotency-Key", csv_count, _csv_body, "text/csv", True),
                ):
                    operator = await _onboard(client, url, soc)
                    staff = {"Authorization": f"Bearer {mint_token(settings, role='operator', operator_id=operator)}"}
                    bodies = [make(i, min(PER_REQUEST, total - i)) for i in range(0, total, PER_REQUEST)]
                    cpu = _cpu_seconds(system, "connection")
                    latencies, elapsed, registered = await _send(
                        client, url, bodies, {**staff, "Content-Type": media}, keyed=keyed
                    )
                    began = time.perf_counter() - elapsed
                    await _visible(client, url, operator, staff, registered)
                    visible = time.perf_counter() - began
                    cpu = _cpu_seconds(system, "connection") - cpu
                    rows.append({
                        "key": "bulk", "goals": [dict(BULK_GOAL)], "scenario": f"bulk registration: {total:,} meters, {PER_REQUEST:,} per request ({fmt})",
                        "count": registered, "throughput_per_s": round(registered / elapsed),
                        "visible_per_s": round(registered / visible), **percentiles(latencies),
                        "cpu_ms_per_meter": round(cpu * 1000 / max(1, registered), 3),
                    })  # fmt: skip
        finally:
            await asyncio.to_thread(system.stop)
    return rows


@scenario("bulk", "bulk registration of meters (POST /connections/bulk), JSON and CSV", system=False)
async def bulk(bench: Bench) -> list[dict[str, Any]]:
    """``BENCH_BULK`` meters as JSON, then a fifth of that as CSV with an Idempotency-Key, on its own connection service."""
    count = bench.parameters.bulk
    print(f"bulk registration: {count:,} meters through POST /connections/bulk …", flush=True)
    rows = await run(bench.bootstrap, count=count)
    for row in rows:
        row["note"] = (f"p50/p95/p99 are per request of up to {PER_REQUEST:,} rows; all listed by GET /connections at "
                       f"{row['visible_per_s']:,} meters/s; the service's CPU {row['cpu_ms_per_meter']} ms per meter")
    return rows
