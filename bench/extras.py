"""The older benchmarks, kept as extras (``BENCH_ONLY=store`` or ``scale``): each starts what it needs itself.

- ``store``: the event store's append path, 5,000 incidents through the repository by 200 callers;
- ``scale``: start-up, memory and disk after a history of ``BENCH_HISTORY`` anomalies (default
  1,000,000: about half an hour on two cores), and the intake with one and two incident instances.
"""

from __future__ import annotations

import os
from typing import Any

from bench import eventstore_bench, scale_bench
from bench.scenarios import Bench, scenario
from bench.system_bench import say


@scenario("store", "the event store's append path (200 concurrent callers)", system=False)
async def store(bench: Bench) -> list[dict[str, Any]]:
    """Opening incidents through the repository, one instance owning every partition."""
    say("event store append …")
    return [await eventstore_bench.run(bench.bootstrap)]


@scenario("scale", "start-up and memory after a long history; one and two incident instances", system=False)
async def scale(bench: Bench) -> list[dict[str, Any]]:
    """Its own systems (one per history), on the same broker."""
    history = int(os.environ.get("BENCH_HISTORY", "1000000"))
    say(f"scale: start-up and memory after {history:,} anomalies; one and two incident instances …")
    rows = await scale_bench.run(bench.bootstrap, history=history)
    for row in rows:
        if "startup_s" in row:
            row["note"] = (f"start-up to ready (s) {row['startup_s']}; resident memory (MB) {row['rss_mb']}; "
                           f"folded at restart {row['folded_at_restore']}; disk (MB) {row['disk_mb']}")  # fmt: skip
        if "ratio_to_one_instance" in row:
            row["note"] = f"two incident instances vs one: {row['ratio_to_one_instance']}×"
    return rows
