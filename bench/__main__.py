"""``python -m bench`` (``make bench``): the whole system measured as ``smguard run`` starts it, with the bare
client loop as its ceiling; the figures to ``bench/results/``, a table, and ``docs/performance.md``.

Uses KAFKA_BOOTSTRAP_SERVERS if set, else Docker, else a secured broker from jars started for the run.
``BENCH_ONLY`` (comma-separated) picks scenarios: ``steady``, ``burst``, ``fleet``, ``http``, ``bulk``,
``replay`` (the default: all of these), and the extras ``store`` and ``scale``. Sizes: ``BENCH_SECONDS``
(60), ``BENCH_RATES`` (``100,1000``), ``BENCH_MAX_RATE`` (32000), ``BENCH_METERS`` (10,000),
``BENCH_BURST`` (10,000), ``BENCH_FLEET`` (100,000), ``BENCH_BULK`` (100,000), ``BENCH_REPLAY_EVENTS``
(1,000,000), ``BENCH_HTTP_RATE`` (200), ``BENCH_BARE_RECORDS``
(200,000). The bench reports; it exits 0 whatever the figures (1 only when it could not run).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sys
from typing import Any

from bench import bare_loop, render
from bench.harness import document, machine, print_table, write_results
from bench.scenarios import Bench, Parameters, Scenario, choose
from bench.system_bench import Rig, registration_row, say
from shared.config import Settings
from shared.localbroker import provide_broker


def command(env: dict[str, str]) -> str:
    """How this run was asked for: ``make bench`` with the BENCH_ variables that were set."""
    chosen = " ".join(f"{k}={v}" for k, v in sorted(env.items()) if k.startswith("BENCH_"))
    return f"{chosen} make bench".strip()


async def run(bootstrap: str, parameters: Parameters, scenarios: list[Scenario]) -> tuple[float | None, list[dict[str, Any]]]:
    """The bare loop, then each scenario (the system started once for those that need it)."""
    partitions = int(os.environ.get("SMGUARD_TOPIC_PARTITIONS") or Settings.model_fields["topic_partitions"].default)
    say(f"bare consume → produce loop over {parameters.bare_records:,} records …")
    bare = await bare_loop.run(bootstrap, records=parameters.bare_records, partitions=partitions, say=say)
    say(f"  {bare['throughput_per_s']:,} records/s")
    bench = Bench(bootstrap=bootstrap, parameters=parameters, bare_per_s=bare["throughput_per_s"])
    rows = [bare]
    alone = [s for s in scenarios if not s.system]
    if any(s.system for s in scenarios):
        async with Rig.start(bootstrap, parameters) as rig:
            bench.rig = rig
            for chosen in (s for s in scenarios if s.system):
                rows += await chosen.run(bench)
            if rig.registered:
                rows.append(registration_row(rig))
        bench.rig = None
    for chosen in alone:
        rows += await chosen.run(bench)
    return bench.bare_per_s, rows


def main() -> int:
    """Run, record, show, render."""
    env = dict(os.environ)
    try:
        parameters = Parameters.from_env(env)
        scenarios = choose(env.get("BENCH_ONLY"))
    except ValueError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    before = machine()
    say(f"scenarios: {', '.join(s.name for s in scenarios)}; load average {before['load_average']} on {before['cpus']} CPUs")
    with provide_broker() as bootstrap:
        bare_per_s, rows = asyncio.run(run(bootstrap, parameters, scenarios))
    doc = document(rows, bare_per_s=bare_per_s, command=command(env), parameters=dataclasses.asdict(parameters) | {
        "scenarios": [s.name for s in scenarios]}, machine_before=before)  # fmt: skip
    path = write_results(doc)
    print_table(doc)
    print(f"figures written to {path}; {render.write(doc)} updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
