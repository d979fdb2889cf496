"""What every benchmark shares: a real broker, percentiles, and the results file and table."""

from __future__ import annotations

import json
import os
import platform
import statistics
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from shared.config import REPO_ROOT

RESULTS_DIR = REPO_ROOT / "bench" / "results"


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    """p50, p95, p99 and max of latencies in milliseconds."""
    ordered = sorted(samples_ms)
    cuts = statistics.quantiles(ordered, n=100, method="inclusive") if len(ordered) > 1 else ordered * 99
    return {
        "p50_ms": round(cuts[49], 2),
        "p95_ms": round(cuts[94], 2),
        "p99_ms": round(cuts[98], 2),
        "max_ms": round(ordered[-1], 2),
    }


def write_results(rows: list[dict[str, Any]]) -> Path:
    """Write the figures with the machine they were measured on; return the file."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    document = {
        "measured_at": stamp,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "results": rows,
    }
    path = RESULTS_DIR / f"bench-{stamp}.json"
    text = json.dumps(document, indent=2, ensure_ascii=False)
    path.write_text(text)
    (RESULTS_DIR / "latest.json").write_text(text)
    return path


def print_table(rows: list[dict[str, Any]]) -> None:
    """The figures as a table on the terminal."""
    columns = ["scenario", "count", "throughput_per_s", "p50_ms", "p95_ms", "p99_ms", "max_ms"]
    headers = {"throughput_per_s": "per s"}
    table = Table(title="smguard benchmarks")
    for column in columns:
        table.add_column(headers.get(column, column), justify="left" if column == "scenario" else "right")
    for row in rows:
        table.add_row(*[str(row.get(column, "")) for column in columns])
    Console().print(table)
