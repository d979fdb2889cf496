"""Replay and verify over a long history: ``smguard replay`` (every service) and ``smguard verify``, timed.

The whole system loads a history of anomalies as the scale scenario does (each anomaly one more
event on the incident topic and one more entry of the audit log), every service catches up, then
both commands run as an operator runs them — their own code, in this process, against the running
services: the replay rebuilds the four services' read models from the topics and compares them
with the live ones, the verification recomputes the audit log in the audit service.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import time
from typing import Any, Awaitable, Callable

from bench import scale_bench
from bench.scenarios import REPLAY_GOAL, VERIFY_GOAL, Bench, scenario
from services.audit.entrypoints import cli_verify
from shared.cli import replay
from shared.config import Settings


async def run(bootstrap: str, *, events: int = 1_000_000) -> list[dict[str, Any]]:
    """Events per second of a whole replay, entries per second of a verification, after ``events`` anomalies."""
    async with scale_bench.loaded(bootstrap, events) as (system, settings, _):
        on_topics = await scale_bench._events(settings)
        cli = settings.model_copy(update={f"{service}_port": port for service, port in system.ports.items()})
        print(f"  replay of {on_topics:,} events …", flush=True)
        replayed, replay_s, _ = await _timed(replay.run, cli, argparse.Namespace(service=None, until=None, url=None))
        print("  verify …", flush=True)
        verified, verify_s, printed = await _timed(cli_verify.run, cli, argparse.Namespace(checkpoint=None, url=None))
        entries = int(json.loads(printed)["size"])
    return [
        {"key": "replay", "goals": [dict(REPLAY_GOAL)], "scenario": f"replay: the four services' read models rebuilt from {on_topics:,} events and compared "
                     f"({'no difference' if replayed == 0 else f'exit status {replayed}'})",
         "count": on_topics, "throughput_per_s": round(on_topics / replay_s), "seconds": round(replay_s, 1)},
        {"key": "replay", "goals": [dict(VERIFY_GOAL)], "scenario": f"verify: the audit log recomputed, {entries:,} entries "
                     f"({'verified' if verified == 0 else f'exit status {verified}'})",
         "count": entries, "throughput_per_s": round(entries / verify_s), "seconds": round(verify_s, 1)},
    ]  # fmt: skip


async def _timed(
    command: Callable[[Settings, argparse.Namespace], Awaitable[int]], settings: Settings, args: argparse.Namespace
) -> tuple[int, float, str]:
    """The command's exit status, its seconds, and what it printed on stdout."""
    out = io.StringIO()
    began = time.perf_counter()
    with contextlib.redirect_stdout(out):
        status = await command(settings, args)
    return status, time.perf_counter() - began, out.getvalue()


@scenario("replay", "smguard replay (every service) and smguard verify after a long history", system=False)
async def replay_and_verify(bench: Bench) -> list[dict[str, Any]]:
    """Its own system loaded with ``BENCH_REPLAY_EVENTS`` anomalies, on the same broker."""
    events = bench.parameters.replay_events
    print(f"replay and verify after {events:,} anomalies (loading the history first) …", flush=True)
    return await run(bench.bootstrap, events=events)


if __name__ == "__main__":  # a quick run: python -m bench.replay_bench (with KAFKA_BOOTSTRAP_SERVERS set)
    print(asyncio.run(run(os.environ["KAFKA_BOOTSTRAP_SERVERS"], events=int(os.environ.get("BENCH_REPLAY_EVENTS", "20000")))))
