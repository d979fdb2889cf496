"""The whole system as ``smguard run`` starts it, measured from outside as its users see it.

``Rig`` starts all four services as processes (``shared.processes.System``, the supervisor ``smguard
run`` uses) on a fresh data dir, with the environment ``smguard run`` gives them: its topic
partitions, an SMTP server (the development catcher, in this process as in ``smguard run``), an
enforcement peer (``bench.peer.Peer``, in this process) with a signing secret, loopback webhooks.
The benchmark sends anomalies as a sensor does (records on the sensors' topic, keyed by meter) and
times each one from its send to the enforcement request the peer receives — both on this process's
``time.perf_counter``.

Scenarios (``BENCH_ONLY`` names):
- ``steady``: anomalies at each of ``BENCH_RATES`` for ``BENCH_SECONDS``, then at doubling rates
  until one does not hold (``held``); the highest that held is the sustained rate;
- ``burst``: ``BENCH_BURST`` anomalies on as many meters, sent at once;
- ``fleet``: a serious vulnerability declared for a model ``BENCH_FLEET`` meters share;
- ``http``: ``POST /incidents``, then ``GET /incidents/{id}``, each at a fixed rate (open loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx

from bench.harness import goal, percentiles
from bench.peer import Peer
from bench.scenarios import Bench, Parameters, scenario
from shared.auth import mint_token
from shared.cli.run import DEV_WEBHOOK_NETWORKS
from shared.config import Settings
from shared.devmail import start_catcher
from shared.kafka import clients
from shared.kafka.reader import assign_all, read_to_end
from shared.localbroker import broker_module
from shared.processes import System
from shared.services import SERVICES
from shared.topics import CONNECTION_EVENTS, INCIDENT_EVENTS, SENSOR_ANOMALIES

SECRET = "bench-signing-key-0123456789-0123456789"
ENFORCEMENT_SECRET = "bench-enforcement-secret-0123456789-0123"

# When a steady rate held: the sensor sent at least 95 % of it, and within HELD_DRAIN_S of the last
# send every anomaly was decided and every block request received, with p99 at most HELD_P99_MS.
# A step stops early once a block request is overdue by ABORT_AFTER_S (the backlog exploded).
HELD_SENT_FRACTION = 0.95
HELD_DRAIN_S = 5.0
HELD_P99_MS = 5000.0
ABORT_AFTER_S = 15.0
MAX_SEARCH_STEPS = 5
"""Doublings above the highest of BENCH_RATES at most."""
NOISE_SHARE = 0.1
"""The share of the meters that carry the anomalies attaching to open incidents (the rest are probes)."""
STALL_S = 120.0
"""Waiting gives up when nothing moved for this long."""
REGISTER_ROWS = 5_000
"""Rows of one bulk registration request when the rig registers the scenarios' meters (under the service's 10,000)."""

INTAKE_WHY = (
    "the incident service, one process, is CPU-bound near 1,000 anomalies/s on this machine (py-spy: busy in every "
    "sample). Each anomaly costs it about 1 ms of Python: deciding and staging the append (its event, the incident's "
    "snapshot and the signal's marker on the changelog, in the partition's Kafka transaction, TLS), then reading its "
    "own event back and folding its incident's read-model document; the other services, the console, the broker and "
    "the sensor share the same 2 cores. 10,000/s needs about a tenth of that cost per anomaly, or more instances on "
    "more cores (the partitions allow them; this machine has two)"
)
CONTAINMENT_GOAL = goal("p99 ≤ 100 ms", "p99_ms", "<=", 100, "ms", why=INTAKE_WHY)
SUSTAINED_GOAL = goal("≥ 10,000/s", "throughput_per_s", ">=", 10000, "/s", why=INTAKE_WHY)
SUSTAINED_RATIO_GOAL = goal("≥ 0.25 × bare loop", "ratio_to_bare", ">=", 0.25, "×", why=INTAKE_WHY)
FLEET_GOAL = goal(
    "100,000 in ≤ 30 s (≥ 3,334 blocks/s)", "throughput_per_s", ">=", 3334, "/s",
    why="the connection service decides the fleet at about 130 blocks/s here (py-spy, 100,000 meters): a third "
    "of its CPU goes to matching — each partition's copy of the vulnerability loads every candidate of the model "
    "from its snapshot to check the firmware, and hashes every candidate id to keep its own partition's — the "
    "rest to each meter's block (its own event, snapshot, read-model fold and enforcement acknowledgement); the "
    "incident, notification and audit services consume every block again on the same 2 cores",
)  # fmt: skip
HTTP_GOAL = goal(
    "p99 ≤ 50 ms", "p99_ms", "<=", 50, "ms",
    why="a POST /incidents answers only once its Kafka transaction has committed (a transaction per batch of "
    "appends, several round trips to the broker), and a GET waits until the read model holds the caller's write; at "
    "200/s both queue behind the service's own event loop, which also folds every event it reads",
)  # fmt: skip


def say(line: str) -> None:
    """A progress line."""
    print(line, flush=True)


class Rig:
    """The running system, its peers, an operator with contacts, and the meters registered so far."""

    def __init__(self, system: System, peer: Peer, settings: Settings, mail: Path, parameters: Parameters) -> None:
        self.system, self.peer, self.settings, self.mail, self.parameters = system, peer, settings, mail, parameters
        self.operator = f"op-bench-{uuid.uuid4().hex[:6]}"
        self.registered, self.registering_s = 0, 0.0
        self.run_id = uuid.uuid4().hex[:6]
        self._signals = 0

    @classmethod
    @contextlib.asynccontextmanager
    async def start(cls, bootstrap: str, parameters: Parameters) -> AsyncIterator["Rig"]:
        """Everything started on a fresh data dir; everything stopped after."""
        peer = Peer(ENFORCEMENT_SECRET)
        url = await peer.start()
        with tempfile.TemporaryDirectory(prefix="smguard-bench-", ignore_cleanup_errors=True) as tmp:
            smtp_port = broker_module().free_port()
            catcher = start_catcher(Path(tmp) / "mail", port=smtp_port)
            partitions = os.environ.get("SMGUARD_TOPIC_PARTITIONS") or str(Settings.model_fields["topic_partitions"].default)
            system = System(
                bootstrap=bootstrap, prefix=f"bench{uuid.uuid4().hex[:6]}.", data_dir=Path(tmp) / "data", secret=SECRET,
                console=True,  # smguard run starts it: its live feed reads every event topic
                extra_env={  # what smguard run gives the services (shared/cli/run.py), with this run's peers
                    "SMGUARD_TOPIC_PARTITIONS": partitions,
                    "SMGUARD_SMTP_HOST": "127.0.0.1", "SMGUARD_SMTP_PORT": str(smtp_port),
                    "SMGUARD_ENFORCEMENT_URL": url, "SMGUARD_ENFORCEMENT_SECRET": ENFORCEMENT_SECRET,
                    "SMGUARD_ENFORCEMENT_MODE": "bulk",
                    "SMGUARD_WEBHOOK_ALLOWED_CIDRS": DEV_WEBHOOK_NETWORKS,
                },
            )  # fmt: skip
            settings = Settings(kafka_bootstrap_servers=bootstrap, topic_prefix=system.prefix, jwt_secret=SECRET,
                                topic_partitions=int(partitions))  # fmt: skip
            try:
                say(f"starting the four services and the console on a fresh data dir ({partitions} partitions) …")
                began = time.perf_counter()
                await asyncio.to_thread(system.start, timeout=180)
                say(f"  ready after {time.perf_counter() - began:.1f} s")
                rig = cls(system, peer, settings, Path(tmp) / "mail", parameters)
                await rig._onboard()
                yield rig
            except BaseException:
                for name in system.supervisor.log_names() if system.supervisor else []:
                    say(f"--- the end of {name}'s log:\n{system.supervisor.tail(name, 2000)}")
                raise
            finally:
                await asyncio.to_thread(system.stop)
                catcher.stop()
                await peer.stop()

    def headers(self, role: str = "utility_soc", operator: str | None = None) -> dict[str, str]:
        """A bearer token for a role."""
        return {"Authorization": f"Bearer {mint_token(self.settings, role=role, operator_id=operator)}"}

    async def _onboard(self) -> None:
        """The operator and its two contacts (so its blocks are told by e-mail, as in production)."""
        async with httpx.AsyncClient(timeout=60) as http:
            body = {"operator_id": self.operator, "name": "ベンチ事業者", "agreement_date": "2026-04-01"}
            (await _send(http, "POST", f"{self.system.url('connection')}/operators", json=body, headers=self.headers())).raise_for_status()
            for kind in ("applicant", "security_incident"):
                contact = {"name": "保安 花子", "organisation": "ベンチ", "phone": "052-000-0000",
                           "email": f"{kind.replace('_', '-')}@{self.operator}.example"}  # fmt: skip
                url = f"{self.system.url('notification')}/operators/{self.operator}/contacts/{kind}"
                (await _send(http, "PUT", url, json=contact, headers=self.headers("operator", self.operator))).raise_for_status()

    async def register(self, count: int, *, model: str) -> list[str]:
        """``count`` meters of ``model`` registered by the operator (``POST /connections/bulk``, ``REGISTER_ROWS``
        rows a request, each with an Idempotency-Key), in the order of their numbers; then until the
        incident service knows them all."""
        url, headers = f"{self.system.url('connection')}/connections/bulk", self.headers("operator", self.operator)
        ids: list[str] = []
        began, shown = time.perf_counter(), time.monotonic()
        async with httpx.AsyncClient(timeout=300) as http:
            for first in range(0, count, REGISTER_ROWS):
                rows = [{"kind": "special_meter", "maker": "M", "model": model, "firmware": "1.0.0",
                         "smart_meter_ids": [f"sm-{model}-{i}"], "secrets": {"auth_id": f"a{i}", "password": f"p{i}", "pairing_id": f"q{i}"}}
                        for i in range(first, min(count, first + REGISTER_ROWS))]  # fmt: skip
                answer = await _send(http, "POST", url, json=rows, headers={**headers, "Idempotency-Key": f"{model}-{first}"})
                answer.raise_for_status()
                refused = [row for row in answer.json()["rows"] if row.get("errors")]
                if refused:
                    raise RuntimeError(f"bulk registration refused {len(refused)} rows, the first: {refused[0]}")
                ids += [row["id"] for row in answer.json()["rows"]]
                if time.monotonic() - shown > 10:
                    shown = time.monotonic()
                    say(f"  registered {len(ids):,} of {count:,} ({len(ids) / (time.perf_counter() - began):,.0f}/s)")
        self.registered += count
        self.registering_s += time.perf_counter() - began
        await self.settle(("incident",), what="the incident service reads the registrations")
        return ids

    async def settle(self, services: tuple[str, ...] = tuple(SERVICES), *, what: str = "every service catches up") -> float | None:
        """Until the services' read models have applied everything on their topics (their lag is 0); seconds
        waited, or None (said) when the lag stopped shrinking for STALL_S seconds: the run goes on."""
        began, best, moved, shown = time.perf_counter(), None, time.monotonic(), time.monotonic()
        async with httpx.AsyncClient(timeout=10) as http:
            while True:
                lag = sum([await self._lag(http, s) for s in services])
                if lag == 0:
                    return time.perf_counter() - began
                if best is None or lag < best:
                    best, moved = lag, time.monotonic()
                if time.monotonic() - moved > STALL_S:
                    say(f"  {what}: still {lag:,} records behind after {STALL_S:.0f} s without progress; going on")
                    return None
                if time.monotonic() - shown > 15:
                    shown = time.monotonic()
                    say(f"  {what}: {lag:,} records behind")
                await asyncio.sleep(0.2)

    async def _lag(self, http: httpx.AsyncClient, service: str) -> int:
        try:
            answer = (await http.get(f"{self.system.url(service)}/readyz")).json()
        except (httpx.HTTPError, ValueError):
            return 1  # no answer: not known to be caught up
        return sum(max(0, p.get("lag", 1)) + (0 if p.get("caught_up") else 1) for p in answer.get("projections", {}).values())

    def anomaly(self, connection: str, observed_at: str) -> bytes:
        """A sensor's record (the fields of POST /anomalies) with a signal id of its own."""
        self._signals += 1
        return (f'{{"signal_id": "{self.run_id}-{self._signals}", "connection_id": "{connection}", '
                f'"type": "unauthorized_access", "severity": "high", "observed_at": "{observed_at}", '
                f'"evidence": {{"bench": true}}}}').encode()  # fmt: skip

    @contextlib.asynccontextmanager
    async def sensor(self) -> AsyncIterator[Any]:
        """A producer as a sensor would use (the super-user's TLS + SASL access; linger 5 ms)."""
        producer = clients.producer(Settings(kafka_bootstrap_servers=self.settings.kafka_bootstrap_servers), linger_ms=5)
        await producer.start()
        try:
            yield producer
        finally:
            await producer.stop()

    async def undecided(self) -> int:
        """Anomalies on the sensors' topic the incident service has not yet decided (its group's lag)."""
        group, topic = f"{self.settings.topic_prefix}smguard.incident", self.settings.topic(SENSOR_ANOMALIES)
        admin = clients.admin(self.settings)
        await admin.start()
        try:
            committed = {tp: m.offset for tp, m in (await admin.list_consumer_group_offsets(group)).items() if tp.topic == topic}
        finally:
            await admin.close()
        consumer = clients.consumer(self.settings)
        await consumer.start()
        try:
            ends = await consumer.end_offsets(await assign_all(consumer, [topic]))
        finally:
            await consumer.stop()
        return sum(max(0, end - max(0, committed.get(tp, 0))) for tp, end in ends.items())

    async def ends(self) -> dict[Any, int]:
        """The end offsets of the sensors', incident and connection topics now (where a step's records start)."""
        consumer = clients.consumer(self.settings)
        await consumer.start()
        try:
            return await consumer.end_offsets(await assign_all(consumer, self._stage_topics()))
        finally:
            await consumer.stop()

    def _stage_topics(self) -> list[str]:
        return [self.settings.topic(t) for t in (SENSOR_ANOMALIES, INCIDENT_EVENTS, CONNECTION_EVENTS)]

    async def stages(self, since: dict[Any, int], meters: list[str]) -> dict[str, float]:
        """Median milliseconds of each hop for these meters, from the records' times on the broker (written
        since ``since``): sensor record → AnomalyDetected (incident service) → ConnectionBlocked (router and
        connection service) → enforcement request received (the connection service's enforcement worker)."""
        wanted, times = set(meters), {m: {} for m in meters}
        consumer = clients.consumer(self.settings, isolation_level="read_committed")
        await consumer.start()
        try:
            partitions = await assign_all(consumer, self._stage_topics())
            for tp in partitions:
                consumer.seek(tp, since.get(tp, 0))
            async for batch in read_to_end(consumer, partitions):
                for record in batch:
                    key = record.key.decode() if record.key else ""
                    if record.topic.endswith(SENSOR_ANOMALIES):
                        if key in wanted:
                            times[key].setdefault("sent", record.timestamp)
                        continue
                    if b"AnomalyDetected" not in record.value and b"ConnectionBlocked" not in record.value:
                        continue
                    body = json.loads(record.value)
                    kind, meter = body["type"].rsplit(".", 1)[-1], body["data"].get("connection_id")
                    if meter in wanted and kind in ("AnomalyDetected", "ConnectionBlocked"):
                        times[meter].setdefault(kind, record.timestamp)
        finally:
            await consumer.stop()
        hops: dict[str, list[float]] = {"incident": [], "connection": [], "enforcement": []}
        for meter, t in times.items():
            if {"sent", "AnomalyDetected", "ConnectionBlocked"} <= set(t) and meter in self.peer.arrived_wall:
                hops["incident"].append(t["AnomalyDetected"] - t["sent"])
                hops["connection"].append(t["ConnectionBlocked"] - t["AnomalyDetected"])
                hops["enforcement"].append(self.peer.arrived_wall[meter] * 1000 - t["ConnectionBlocked"])
        return {hop: round(statistics.median(v)) for hop, v in hops.items() if v}

    async def decided(self, *, stall: float = STALL_S) -> bool:
        """Until every anomaly sent is decided (False when nothing moved for ``stall`` seconds)."""
        best, moved = None, time.monotonic()
        while (left := await self.undecided()) > 0:
            if best is None or left < best:
                best, moved = left, time.monotonic()
            if time.monotonic() - moved > stall:
                return False
            await asyncio.sleep(0.1)
        return True


async def _send(http: httpx.AsyncClient, method: str, url: str, **options: Any) -> httpx.Response:
    """A request as a well-behaved client makes it, for a minute at most: a 503 (a rebalance) is tried again
    after its Retry-After; a broken connection again at once when the request may be repeated (a read,
    a PUT, or a write with an Idempotency-Key)."""
    deadline = time.monotonic() + 60
    repeatable = method in ("GET", "PUT") or "Idempotency-Key" in options.get("headers", {})
    while True:
        try:
            answer = await http.request(method, url, **options)
        except httpx.TransportError:
            if not repeatable or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)
            continue
        if answer.status_code != 503 or time.monotonic() > deadline:
            return answer
        await asyncio.sleep(float(answer.headers.get("retry-after", "1")))


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


async def _rig(bench: Bench) -> Rig:
    if bench.rig is None:
        raise RuntimeError("this scenario needs the running system (registered with system=True)")
    return bench.rig


# --------------------------------------------------------------------------- steady rates


async def _step(rig: Rig, rate: int, seconds: float, probes: list[str], noise: list[str]) -> dict[str, Any]:
    """Anomalies at ``rate`` for ``seconds``: the probes (meters not blocked yet) spread evenly among them,
    every other anomaly on a noise meter (blocked already: it attaches to the open incident)."""
    total = max(len(probes), int(rate * seconds))
    probe_at = {int(k * total / len(probes)): meter for k, meter in enumerate(probes)}
    sent: dict[str, float] = {}
    topic, aborted, since = rig.settings.topic(SENSOR_ANOMALIES), None, await rig.ends()
    async with rig.sensor() as producer:
        began = time.perf_counter()
        i, noise_i, checked, observed = 0, 0, began, _now()
        while i < total:
            now = time.perf_counter()
            due = min(total, int((now - began) * rate) + 1)
            if now - checked >= 1.0:
                checked, observed = now, _now()
                if rig.peer.outstanding(sent, older_than=ABORT_AFTER_S):
                    aborted = f"a block request was overdue by {ABORT_AFTER_S:.0f} s after {now - began:.0f} s"
                    break
            while i < due:
                meter = probe_at.get(i)
                if meter is None:
                    meter, noise_i = noise[noise_i % len(noise)], noise_i + 1
                else:
                    sent[meter] = time.perf_counter()
                await producer.send(topic, rig.anomaly(meter, observed), key=meter.encode())
                i += 1
            await asyncio.sleep(0.002)
        last_send = time.perf_counter()
        await producer.flush()
    sending_s = last_send - began
    missing = await rig.peer.wait(list(sent), stall=ABORT_AFTER_S if aborted else STALL_S)
    all_decided = await rig.decided()
    drain_s = time.perf_counter() - last_send
    latencies = [(rig.peer.arrived[m] - at) * 1000 for m, at in sent.items() if m in rig.peer.arrived]
    figures = percentiles(latencies)
    sent_rate = i / sending_s if sending_s > 0 else 0.0
    reasons = []
    if aborted:
        reasons.append(aborted)
    if sent_rate < HELD_SENT_FRACTION * rate:
        reasons.append(f"the sensor sent only {sent_rate:,.0f}/s")
    if missing or not all_decided:
        reasons.append(f"{len(missing):,} block requests missing" if missing else "anomalies left undecided")
    elif drain_s > HELD_DRAIN_S:
        reasons.append(f"drained {drain_s:.1f} s after the last send")
    if figures and figures["p99_ms"] > HELD_P99_MS:
        reasons.append(f"p99 {figures['p99_ms']:,.0f} ms")
    return {
        "rate": rate, "count": i, "sent_per_s": round(sent_rate), "probes": len(sent), "blocked": len(latencies),
        "drain_s": round(drain_s, 2), "held": not reasons, "why_not": "; ".join(reasons), **figures,
        "stages_p50_ms": await rig.stages(since, list(sent)),
    }  # fmt: skip


@scenario("steady", "steady anomaly rates, then the highest sustainable rate (containment latency)")
async def steady(bench: Bench) -> list[dict[str, Any]]:
    """Each rate of BENCH_RATES, then doubling until a rate does not hold; the meters are registered first."""
    rig, p = await _rig(bench), bench.parameters
    say(f"registering {p.meters:,} meters (POST /connections/bulk, {REGISTER_ROWS:,} a request) …")
    meters = await rig.register(p.meters, model=f"X-{rig.run_id}")
    noise_count = max(1, int(p.meters * NOISE_SHARE))
    noise, fresh = meters[:noise_count], meters[noise_count:]
    steps = len(p.rates) + MAX_SEARCH_STEPS
    per_step = max(1, len(fresh) // steps)
    say(f"blocking the {noise_count:,} meters the attaching anomalies go to …")
    async with rig.sensor() as producer:
        observed = _now()
        for meter in noise:
            await producer.send(rig.settings.topic(SENSOR_ANOMALIES), rig.anomaly(meter, observed), key=meter.encode())
    await rig.peer.wait(noise, stall=STALL_S)
    await rig.settle(what="the system settles")

    rows, held_rates, rate, k = [], [], None, 0
    plan = list(p.rates)
    while plan:
        rate = plan.pop(0)
        probes = fresh[k * per_step:(k + 1) * per_step]
        k += 1
        if not probes:
            say("  no fresh meters left for another step (raise BENCH_METERS)")
            break
        say(f"steady {rate:,} anomalies/s for {p.seconds:g} s ({len(probes):,} of them on meters not blocked yet) …")
        step = await _step(rig, rate, p.seconds, probes, noise)
        settled = await rig.settle(what="the system settles")
        caught_up = "never caught up" if settled is None else f"caught up {settled:.1f} s later"
        say(f"  p50 {step.get('p50_ms', '-')} ms, p99 {step.get('p99_ms', '-')} ms, sent {step['sent_per_s']:,}/s, "
            f"{'held' if step['held'] else 'did not hold: ' + step['why_not']}; every service {caught_up}")
        step["settled_s"] = None if settled is None else round(settled, 1)
        rows.append(step)
        if step["held"]:
            held_rates.append(rate)
        searching = rate >= max(p.rates)
        if searching and step["held"] and rate * 2 <= p.max_rate and k < steps:
            plan.append(rate * 2)
    bench.shared["held_rates"] = held_rates
    out = []
    for step in rows:
        note = (f"{step['count']:,} anomalies, {step['probes']:,} on meters not blocked yet (the latency is theirs; "
                f"the others attach to open incidents); "
                + (f"held, drained {step['drain_s']} s after the last send" if step["held"] else f"did not hold: {step['why_not']}"))  # fmt: skip
        out.append({
            "key": "steady", "scenario": f"steady {step['rate']:,} anomalies/s",
            "count": step["count"], "throughput_per_s": step["sent_per_s"] if step["held"] else None,
            **{k: step[k] for k in ("p50_ms", "p95_ms", "p99_ms", "max_ms") if k in step},
            "goals": [dict(CONTAINMENT_GOAL)] if step["rate"] == 1000 else [], "note": note + _hops(step["stages_p50_ms"]),
            "step": step,
        })  # fmt: skip
    best = max(held_rates, default=None)
    best_step = next((s for s in rows if s["rate"] == best), None)
    out.append({
        "key": "steady", "scenario": "highest sustained anomaly rate",
        "count": best_step["count"] if best_step else None, "throughput_per_s": best_step["sent_per_s"] if best_step else None,
        "below_per_s": None if best_step or not rows else min(s["rate"] for s in rows),
        **{k: best_step[k] for k in ("p50_ms", "p95_ms", "p99_ms") if best_step and k in best_step},
        "goals": [dict(SUSTAINED_GOAL), dict(SUSTAINED_RATIO_GOAL)],
        "note": (f"rates tried {_rates([s['rate'] for s in rows])}; held: {_rates(held_rates) or 'none'} "
                 f"(held: sent ≥ {HELD_SENT_FRACTION:.0%} of the rate, drained ≤ {HELD_DRAIN_S:g} s after the last send, "
                 f"p99 ≤ {HELD_P99_MS:,.0f} ms)"),
    })  # fmt: skip
    return out


def _hops(stages: dict[str, float]) -> str:
    if not stages:
        return ""
    return "; median per hop " + ", ".join(f"{hop} {ms:,.0f} ms" for hop, ms in stages.items())


def _rates(rates: list[int]) -> str:
    return ", ".join(f"{r:,}" for r in rates)


def registration_row(rig: Rig) -> dict[str, Any]:
    """How fast this run registered its meters (all scenarios together)."""
    return {
        "key": "register", "scenario": "registration of the scenarios' meters, POST /connections/bulk",
        "count": rig.registered, "throughput_per_s": round(rig.registered / rig.registering_s) if rig.registering_s else None,
        "note": (f"{rig.registered:,} meters, {REGISTER_ROWS:,} rows a request, one request at a time; includes the incident "
                 "service reading them"),
    }  # fmt: skip


# --------------------------------------------------------------------------- burst and fleet


@scenario("burst", "a burst of anomalies on as many meters, sent at once")
async def burst(bench: Bench) -> list[dict[str, Any]]:
    """BENCH_BURST meters registered, then one anomaly each, all sent at once: blocks/s and time to the last."""
    rig, count = await _rig(bench), bench.parameters.burst
    say(f"registering {count:,} meters for the burst …")
    meters = await rig.register(count, model=f"B-{rig.run_id}")
    await rig.settle(what="the system settles")
    say(f"burst: {count:,} anomalies at once …")
    sent: dict[str, float] = {}
    since = await rig.ends()
    async with rig.sensor() as producer:
        observed, topic = _now(), rig.settings.topic(SENSOR_ANOMALIES)
        began = time.perf_counter()
        for meter in meters:
            sent[meter] = time.perf_counter()
            await producer.send(topic, rig.anomaly(meter, observed), key=meter.encode())
    missing = await _wait_shown(rig, meters, "blocks")
    row = _burst_row("burst", f"burst of {count:,} anomalies at once", rig, sent, began, missing, [])
    row["stages_p50_ms"] = await rig.stages(since, meters)
    row["note"] += _hops(row["stages_p50_ms"])
    return [row]


@scenario("fleet", "a serious vulnerability over a fleet of meters of one model")
async def fleet(bench: Bench) -> list[dict[str, Any]]:
    """BENCH_FLEET meters of one model; POST /vulnerabilities for it; the time to the last enforcement request."""
    rig, count = await _rig(bench), bench.parameters.fleet
    model = f"F-{rig.run_id}"
    say(f"registering {count:,} meters of model {model} for the fleet …")
    meters = await rig.register(count, model=model)
    await rig.settle(what="the system settles")
    say(f"fleet: a serious vulnerability in model {model} ({count:,} meters) …")
    body = {"title": f"Fleet vulnerability {model}", "severity": "critical", "asset_kind": "special_meter",
            "maker": "M", "model": model}  # fmt: skip
    async with httpx.AsyncClient(timeout=60) as http:
        began = time.perf_counter()
        (await _send(http, "POST", f"{rig.system.url('incident')}/vulnerabilities", json=body, headers=rig.headers())).raise_for_status()
    missing = await _wait_shown(rig, meters, "blocks")
    sent = dict.fromkeys(meters, began)
    return [_burst_row("fleet", f"fleet vulnerability over {count:,} meters", rig, sent,
                       began, missing, [dict(FLEET_GOAL)])]  # fmt: skip


async def _wait_shown(rig: Rig, meters: list[str], what: str) -> list[str]:
    """Until every meter's block request arrived (or nothing moved for STALL_S), with a progress line every 15 s."""
    task = asyncio.create_task(rig.peer.wait(meters, stall=STALL_S))
    began = time.perf_counter()
    while not task.done():
        await asyncio.wait([task], timeout=15)
        if not task.done():
            done = sum(1 for m in meters if m in rig.peer.arrived)
            say(f"  {done:,} of {len(meters):,} {what} received after {time.perf_counter() - began:.0f} s")
    missing = task.result()
    await rig.settle(what="the system settles")
    return missing


def _burst_row(key: str, name: str, rig: Rig, sent: dict[str, float], began: float, missing: list[str],
               goals: list[dict[str, Any]]) -> dict[str, Any]:  # fmt: skip
    arrived = [rig.peer.arrived[m] for m in sent if m in rig.peer.arrived]
    last = max(arrived) - began if arrived else None
    latencies = [(rig.peer.arrived[m] - at) * 1000 for m, at in sent.items() if m in rig.peer.arrived]
    note = f"time to the last enforcement request {last:,.1f} s" if last else "no enforcement request arrived"
    if missing:
        note += f"; {len(missing):,} never arrived (nothing moved for {STALL_S:.0f} s)"
    return {
        "key": key, "scenario": name, "count": len(arrived), "seconds": round(last, 2) if last else None,
        "throughput_per_s": round(len(arrived) / last) if last else None, **percentiles(latencies),
        "goals": goals, "note": note, "missing": len(missing),
    }  # fmt: skip


# --------------------------------------------------------------------------- HTTP


@scenario("http", "POST /incidents and GET /incidents/{id} at a fixed rate (open loop)")
async def http_api(bench: Bench) -> list[dict[str, Any]]:
    """``BENCH_HTTP_RATE`` requests/s for ``BENCH_SECONDS`` each: first creating incidents, then reading them."""
    rig, p = await _rig(bench), bench.parameters
    created: list[str] = []
    url = rig.system.url("incident")
    headers = rig.headers()

    def create(i: int) -> dict[str, Any]:
        body = {"category": "security_incident", "severity": "medium", "title": f"ベンチ {rig.run_id}-{i}",
                "detected_at": _now(), "operator_id": rig.operator}  # fmt: skip
        return {"method": "POST", "url": f"{url}/incidents", "json": body}

    def read(i: int) -> dict[str, Any]:
        return {"method": "GET", "url": f"{url}/incidents/{created[i % len(created)]}"}

    say(f"HTTP: POST /incidents at {p.http_rate}/s for {p.seconds:g} s …")
    posted = await _open_loop(create, p.http_rate, p.seconds, headers, keep=created)
    await rig.settle(what="the system settles")
    rows = [_http_row("POST /incidents", p, posted)]
    if created:
        say(f"HTTP: GET /incidents/{{id}} at {p.http_rate}/s for {p.seconds:g} s …")
        rows.append(_http_row("GET /incidents/{id}", p, await _open_loop(read, p.http_rate, p.seconds, headers)))
    else:
        rows.append({"key": "http", "scenario": "GET /incidents/{id}", "not_measured": "no incident was created",
                     "goals": [dict(HTTP_GOAL)]})  # fmt: skip
    return rows


async def _open_loop(make: Any, rate: int, seconds: float, headers: dict[str, str], *, keep: list[str] | None = None) -> dict[str, Any]:
    """Request i is started at ``i / rate`` s whatever the answers before it (open loop); its latency counts
    from that planned start, so a client or server falling behind shows in the figures."""
    total = int(rate * seconds)
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    tasks: set[asyncio.Task[None]] = set()

    async def one(http: httpx.AsyncClient, request: dict[str, Any], planned: float) -> None:
        try:
            answer = await http.request(request["method"], request["url"], json=request.get("json"), headers=headers)
            status = str(answer.status_code)
            if keep is not None and answer.status_code == 201:
                keep.append(answer.json()["id"])
        except httpx.HTTPError as exc:
            status = type(exc).__name__
        latencies.append((time.perf_counter() - planned) * 1000)
        statuses[status] = statuses.get(status, 0) + 1

    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=500, max_keepalive_connections=100)) as http:
        began = time.perf_counter()
        for i in range(total):
            planned = began + i / rate
            await asyncio.sleep(max(0.0, planned - time.perf_counter()))
            task = asyncio.create_task(one(http, make(i), planned))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - began
    return {"latencies": latencies, "statuses": statuses, "count": total, "elapsed": elapsed}


def _http_row(route: str, p: Parameters, result: dict[str, Any]) -> dict[str, Any]:
    errors = sum(n for status, n in result["statuses"].items() if not status.startswith("2"))
    return {
        "key": "http", "scenario": f"{route} at {p.http_rate}/s", "count": result["count"],
        "throughput_per_s": round(result["count"] / result["elapsed"]), **percentiles(result["latencies"]),
        "errors": errors, "statuses": result["statuses"], "goals": [dict(HTTP_GOAL)],
        "note": f"answers {', '.join(f'{s}: {n:,}' for s, n in sorted(result['statuses'].items()))}",
    }  # fmt: skip
