"""The broker crashes (SIGKILL, then started again on the same data dir) or hangs (SIGSTOP for longer
than the clients' request timeout, then SIGCONT) under load: the services recover by themselves,
nothing acknowledged is lost or doubled, ``/readyz`` is false while the broker is away and true after,
and a write meanwhile answers 503 with Retry-After, never 500."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Awaitable, Callable

import httpx
import pytest

from shared.services import SERVICES
from tests.factories import eventually
from tests.faults import history as h
from tests.faults.conftest import FULL, OwnBroker, Rig, anomaly
from tests.faults.report import record

pytestmark = pytest.mark.integration

AIOKAFKA_REQUEST_TIMEOUT_S = 40  # aiokafka's default request_timeout_ms, which the services keep
RECOVERY_TIMEOUT = 180.0
LOAD = 100 if FULL else 30  # anomalies sent before the outage, and again after it (CI: the smaller size)


class Prober:
    """Posts anomalies (a write route) and asks every /readyz in a loop, keeping every answer seen."""

    def __init__(self, rig: Rig) -> None:
        self.rig, self.statuses, self.ready_seen = rig, Counter(), {s: set() for s in SERVICES}
        self.refusals: Counter[str] = Counter()  # each non-202 answer's code and detail: what a failure reports
        self.without_retry_after = 0
        self.stopping = False

    async def run(self) -> None:
        await asyncio.gather(self.write(), self.watch())

    async def write(self) -> None:
        async with httpx.AsyncClient(timeout=15) as http:
            while not self.stopping:
                connection = self.rig.connections[len(self.rig.sent.anomalies) % len(self.rig.connections)]
                body = anomaly(connection)
                try:
                    answer = await http.post(f"{self.rig.system.url('incident')}/anomalies", json=body,
                                             headers=self.rig.headers("sensor"))
                    self.statuses[answer.status_code] += 1
                    if answer.status_code == 202:
                        self.rig.sent.anomalies.append(body["signal_id"])
                        self.rig.sent.attacked.add(connection)
                        self.rig.sent.acknowledged[answer.json()["incident_id"]] = "incident"
                    else:
                        self.refusals[f"{answer.status_code} {refusal(answer)}"] += 1
                        if answer.status_code == 503 and "retry-after" not in answer.headers:
                            self.without_retry_after += 1
                except httpx.TimeoutException:
                    self.statuses["timeout"] += 1
                await asyncio.sleep(0.2)  # pacing of the load, not synchronisation

    async def watch(self) -> None:
        async with httpx.AsyncClient() as http:
            while not self.stopping:
                for service, ready in zip(SERVICES, await asyncio.gather(*[self.ready(http, s) for s in SERVICES])):
                    self.ready_seen[service].add(ready)
                await asyncio.sleep(0.5)  # pacing of the probes

    async def ready(self, http: httpx.AsyncClient, service: str) -> bool:
        try:
            return (await http.get(f"{self.rig.system.url(service)}/readyz", timeout=10)).status_code == 200
        except httpx.HTTPError:
            return False

    async def all_ready(self, wanted: bool) -> bool:
        async with httpx.AsyncClient() as http:
            return all(ready == wanted for ready in await asyncio.gather(*[self.ready(http, s) for s in SERVICES]))


def refusal(answer: httpx.Response) -> str:
    """An answer's error code and the start of its detail (enough to tell a fenced writer from a rebalance)."""
    try:
        body = answer.json()
    except ValueError:
        return answer.text[:120]
    return f"{body.get('code')}: {str(body.get('detail'))[:120]}" if isinstance(body, dict) else str(body)[:120]


async def outage(rig: Rig, fault: str, away: Callable[[], None], back: Callable[[], None],
                 until_back: Callable[[Prober], Awaitable[object]]) -> None:
    """Load, the broker away (``away``) until ``until_back`` holds, ``back``; then recovery and the history."""
    await rig.onboard(20)
    await rig.wait_known()
    prober = Prober(rig)
    probing = asyncio.create_task(prober.run())
    try:
        await rig.produce(LOAD)
        await asyncio.to_thread(away)
        not_ready = True
        try:
            await eventually(lambda: prober.all_ready(False), timeout=60, interval=0.5, what="/readyz false everywhere")
        except AssertionError:
            not_ready = False
        await until_back(prober)
        during = dict(prober.statuses)
        await asyncio.to_thread(back)
        recovered = True
        try:
            await eventually(lambda: prober.all_ready(True), timeout=RECOVERY_TIMEOUT, interval=1,
                             what="/readyz true everywhere after the broker came back")
            await rig.produce(LOAD, first=LOAD)
            await rig.all_blocks_enforced(timeout=RECOVERY_TIMEOUT)
            await rig.all_anomalies_recorded(timeout=RECOVERY_TIMEOUT)
        except AssertionError:
            recovered = False
    finally:
        prober.stopping = True
        await probing
    statuses = {str(k): v for k, v in prober.statuses.items()}
    no_500 = not any(str(s).startswith("5") and s != 503 for s in prober.statuses) and not prober.without_retry_after
    only_503 = no_500 and "timeout" not in prober.statuses
    record(fault=fault, invariant="/readyz false while the broker is away", outcome="held" if not_ready else "broken",
           statuses_during=during)
    record(fault=fault, invariant="services recover by themselves: /readyz true after, blocks enforced",
           outcome="held" if recovered else "broken", statuses=statuses,
           refusals=dict(prober.refusals.most_common(5)))
    record(fault=fault, invariant="writes answer 503 with Retry-After meanwhile, never 500 (nor hang)",
           outcome="held" if only_503 else "broken", statuses=statuses,
           without_retry_after=prober.without_retry_after)
    findings = []
    if recovered:
        verdict = h.check(await rig.read_back())
        dead_letters = await rig.dead_letters()
        for invariant in h.INVARIANTS:
            record(fault=fault, invariant=invariant, outcome=verdict.outcome(invariant), dead_letters=dead_letters,
                   **verdict.figures_for(invariant))
        findings += [f"{k}: {v}" for k, v in verdict.broken().items()]
    assert not_ready, "a service's /readyz stayed true while the broker was away"
    incident_log = rig.system.supervisor.tail("incident") if rig.system.supervisor else ""
    assert recovered, (f"the services did not recover by themselves; statuses seen: {statuses}; refusals: "
                       f"{dict(prober.refusals.most_common(5))}\nincident service's log:\n{incident_log}")
    assert no_500, f"statuses seen during and after the outage: {statuses}"
    assert not findings, findings
    assert only_503, (f"a write waited past the client's 15 s while the broker was away instead of answering 503 "
                      f"with Retry-After (statuses seen: {statuses})")


async def test_a_broker_killed_and_started_again_mid_load_loses_nothing(rig: Rig, own_broker: OwnBroker) -> None:
    async def outage_seen(prober: Prober) -> None:  # the write route was tried while the broker was away
        before = sum(prober.statuses.values())
        await eventually(lambda: sum(prober.statuses.values()) >= before + 3, timeout=90, interval=0.2,
                         what="three writes tried during the outage")
    await outage(rig, "broker SIGKILL mid-load, restarted on its data dir", own_broker.kill, own_broker.start,
                 outage_seen)


async def test_a_broker_hung_longer_than_the_request_timeout_loses_nothing(rig: Rig, own_broker: OwnBroker) -> None:
    async def hung_long_enough(prober: Prober) -> None:
        await asyncio.sleep(AIOKAFKA_REQUEST_TIMEOUT_S + 5)  # the fault's length (the probes run meanwhile)
    await outage(rig, f"broker SIGSTOP > {AIOKAFKA_REQUEST_TIMEOUT_S} s mid-load, then SIGCONT", own_broker.pause,
                 own_broker.resume, hung_long_enough)
