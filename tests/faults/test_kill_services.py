"""SIGKILL each service in turn while anomalies, blocks and notifications are in flight: nothing is lost
or applied twice, every attacked meter is blocked once, read models and the audit log equal a rebuild."""

from __future__ import annotations

import asyncio

import pytest

from shared.services import SERVICES
from tests.faults import history as h
from tests.faults.conftest import Rig, full_only
from tests.faults.report import record

pytestmark = pytest.mark.integration


async def kill_each_in_turn(rig: Rig, services: tuple[str, ...], per_service: int) -> dict[str, int]:
    """For each service: a wave of anomalies, then SIGKILL it while the wave is processed, then start it."""
    sent = 0
    for service in services:
        await rig.produce(per_service, first=sent)
        sent += per_service
        await asyncio.to_thread(rig.system.stop, service, kill=True)
        await asyncio.to_thread(rig.system.start, service, timeout=120)
    return {"anomalies_sent": sent, "killed": len(services)}


async def run(rig: Rig, *, meters: int, per_service: int, services: tuple[str, ...], fault: str) -> None:
    await rig.onboard(meters)
    await rig.wait_known()
    figures = await kill_each_in_turn(rig, services, per_service)
    await rig.all_blocks_enforced(timeout=240)
    await rig.all_anomalies_recorded(timeout=120)
    verdict = h.check(await rig.read_back())
    figures["dead_letters"] = await rig.dead_letters()
    for invariant in h.INVARIANTS:
        record(fault=fault, invariant=invariant, outcome=verdict.outcome(invariant), **figures,
               **verdict.figures_for(invariant))
    assert verdict.held, verdict.broken()


async def test_sigkill_of_each_service_in_turn_under_load_loses_and_doubles_nothing(rig: Rig) -> None:
    await run(rig, meters=60, per_service=75, services=tuple(SERVICES),
              fault="SIGKILL of each service in turn under load (300 anomalies)")


@full_only
@pytest.mark.parametrize("service", SERVICES)
async def test_sigkill_of_one_service_under_1000_anomalies(rig: Rig, service: str) -> None:
    await run(rig, meters=200, per_service=1000, services=(service,),
              fault=f"SIGKILL of {service} under load (1,000 anomalies)")
