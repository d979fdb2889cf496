"""``python -m bench``: run every benchmark against a real broker, write bench/results/, print a table.

How to run: ``make bench`` (or ``.venv/bin/python -m bench``). Uses KAFKA_BOOTSTRAP_SERVERS if set,
else Docker, else starts a local broker from jars for the run.
"""

from __future__ import annotations

import asyncio

from bench import eventstore_bench, hot_path_bench
from bench.harness import print_table, write_results
from shared.localbroker import provide_broker


async def _all(bootstrap: str) -> list[dict]:
    rows = []
    print("event store append …", flush=True)
    rows.append(await eventstore_bench.run(bootstrap))
    print("hot path: anomaly → incident → block → enforcement request …", flush=True)
    rows.extend(await hot_path_bench.run(bootstrap))
    return rows


def main() -> None:
    """Run, record, show."""
    with provide_broker() as bootstrap:
        rows = asyncio.run(_all(bootstrap))
    path = write_results(rows)
    print_table(rows)
    for row in rows:
        if "stages_p50_ms" in row:
            print(f"  {row['scenario']}: median per step (ms) {row['stages_p50_ms']}")
    print(f"figures written to {path}")


if __name__ == "__main__":
    main()
