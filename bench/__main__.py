"""``python -m bench``: run every benchmark against a real broker, write bench/results/, print a table.

How to run: ``make bench`` (or ``.venv/bin/python -m bench``). Uses KAFKA_BOOTSTRAP_SERVERS if set,
else Docker, else starts a local broker from jars for the run. The scale scenarios load a history of
``BENCH_HISTORY`` anomalies (1,000,000 by default: about half an hour on two cores); the bulk
registration registers ``BENCH_BULK`` meters (100,000 by default); ``BENCH_ONLY`` (``store``, ``hot``,
``scale``, ``bulk``, comma-separated) runs a subset.
"""

from __future__ import annotations

import asyncio
import os

from bench import bulk_bench, eventstore_bench, hot_path_bench, scale_bench
from bench.harness import print_table, write_results
from shared.localbroker import provide_broker


async def _all(bootstrap: str, only: set[str]) -> list[dict]:
    rows = []
    if "store" in only:
        print("event store append …", flush=True)
        rows.append(await eventstore_bench.run(bootstrap))
    if "hot" in only:
        print("hot path: anomaly → incident → block → enforcement request …", flush=True)
        rows.extend(await hot_path_bench.run(bootstrap))
    if "scale" in only:
        history = int(os.environ.get("BENCH_HISTORY", "1000000"))
        print(f"scale: start-up and memory after {history:,} anomalies; one and two incident instances …", flush=True)
        rows.extend(await scale_bench.run(bootstrap, history=history))
    if "bulk" in only:
        count = int(os.environ.get("BENCH_BULK", "100000"))
        print(f"bulk registration: {count:,} meters through POST /connections/bulk …", flush=True)
        rows.extend(await bulk_bench.run(bootstrap, count=count))
    return rows


def main() -> None:
    """Run, record, show."""
    only = {part.strip() for part in os.environ.get("BENCH_ONLY", "store,hot,scale,bulk").split(",") if part.strip()}
    unknown = only - {"store", "hot", "scale", "bulk"}
    if unknown:
        raise SystemExit(f"BENCH_ONLY: unknown scenario(s) {sorted(unknown)}; choose from store, hot, scale, bulk")
    with provide_broker() as bootstrap:
        rows = asyncio.run(_all(bootstrap, only))
    path = write_results(rows)
    print_table(rows)
    for row in rows:
        if "stages_p50_ms" in row:
            print(f"  {row['scenario']}: median per step (ms) {row['stages_p50_ms']}")
        if "startup_s" in row:
            print(f"  {row['scenario']}:\n    start-up to ready (s) {row['startup_s']}\n    resident memory (MB) {row['rss_mb']}")
            print(f"    events folded at restart {row['folded_at_restore']}; disk (MB) {row['disk_mb']}; "
                  f"mean incident record {row['incident_record_bytes']} bytes")
        if "visible_per_s" in row:
            print(f"  {row['scenario']}: all listed by GET /connections at {row['visible_per_s']:,} meters/s; "
                  f"the service's CPU {row['cpu_ms_per_meter']} ms per meter")
        if "ratio_to_one_instance" in row:
            print(f"  two incident instances vs one on the intake: {row['ratio_to_one_instance']}×")
    print(f"figures written to {path}")


if __name__ == "__main__":
    main()
