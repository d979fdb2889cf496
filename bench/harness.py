"""What every benchmark shares: percentiles, goals and their gaps, the ratio to the bare client loop,
the results file and the table.

A result row is a dict: ``key`` (the scenario it came from), ``scenario`` (what was measured, in
words), ``count``, ``throughput_per_s`` and/or ``p50_ms``/``p95_ms``/``p99_ms``/``max_ms``, ``goals``
(each judged by ``judge``), ``ratio_to_bare`` (``add_ratios``), ``note``; a scenario that could not
be measured says so in ``not_measured`` and carries no figure.
"""

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
    """p50, p95, p99 and max of latencies in milliseconds (nothing for no samples)."""
    if not samples_ms:
        return {}
    ordered = sorted(samples_ms)
    cuts = statistics.quantiles(ordered, n=100, method="inclusive") if len(ordered) > 1 else ordered * 99
    return {
        "p50_ms": round(cuts[49], 1),
        "p95_ms": round(cuts[94], 1),
        "p99_ms": round(cuts[98], 1),
        "max_ms": round(ordered[-1], 1),
    }


def goal(text: str, metric: str, op: str, value: float, unit: str = "", *, why: str = "") -> dict[str, Any]:
    """A target a figure is held against: ``metric`` (a key of the row) ``op`` (``<=`` or ``>=``) ``value``;
    ``why``: what the profiles found limits the figure (reported with the gap when the goal is missed)."""
    if op not in ("<=", ">="):
        raise ValueError(f"a goal compares with <= or >=, not {op!r}")
    return {"text": text, "metric": metric, "op": op, "value": value, "unit": unit, "why": why}


def judge(row: dict[str, Any]) -> dict[str, Any]:
    """Each goal of the row with what was measured, whether it is met and the gap (how far off; 0 when met).

    A row whose rate is known only to lie below a bound (``below_per_s``: no rate tried held) misses a
    ``>=`` goal above that bound by at least the difference (``gap_at_least``)."""
    for g in row.get("goals", []):
        measured = row.get(g["metric"])
        g["measured"] = measured
        bound = _bound(row, g["metric"])
        if measured is None and bound is not None and g["op"] == ">=" and bound < g["value"]:
            g["met"], g["gap"], g["gap_at_least"] = False, round(g["value"] - bound, 2), True
            continue
        if measured is None:
            g["met"], g["gap"] = None, None
            continue
        g["met"] = measured <= g["value"] if g["op"] == "<=" else measured >= g["value"]
        g["gap"] = 0 if g["met"] else round(abs(measured - g["value"]), 2)
    return row


def _bound(row: dict[str, Any], metric: str) -> float | None:
    below = row.get("below_per_s")
    if below is None:
        return None
    if metric == "throughput_per_s":
        return below
    return row.get("ratio_below") if metric == "ratio_to_bare" else None


def add_ratios(rows: list[dict[str, Any]], bare_per_s: float | None) -> None:
    """Every rate as a fraction of the bare consume → produce loop measured in the same run."""
    for row in rows:
        rate = row.get("throughput_per_s")
        row["ratio_to_bare"] = round(rate / bare_per_s, 4) if rate is not None and bare_per_s else None
        if row.get("below_per_s") is not None and bare_per_s:
            row["ratio_below"] = round(row["below_per_s"] / bare_per_s, 4)
        judge(row)


def not_measured(key: str, scenario: str, reason: str, goals: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A row for a scenario this run could not measure: its goal, the reason, no figure."""
    return {"key": key, "scenario": scenario, "not_measured": reason, "goals": goals or []}


def machine() -> dict[str, Any]:
    """The machine, and how busy it was (load average over 1, 5, 15 minutes)."""
    load = [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(), "load_average": load}


def describe_machine(found: dict[str, Any]) -> str:
    """The machine in a few words."""
    text = f"{found.get('platform', '?')}, {found.get('cpus', '?')} CPUs, Python {found.get('python', '?')}"
    before, after = found.get("load_average"), found.get("load_average_after")
    if before:
        text += f"; load average {before[0]} at the start" + (f", {after[0]} at the end" if after else "")
    return text


def document(rows: list[dict[str, Any]], *, bare_per_s: float | None, command: str, parameters: dict[str, Any],
             machine_before: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    """The results file's content: when, where, how, and every row judged."""
    add_ratios(rows, bare_per_s)
    found = dict(machine_before)
    found["load_average_after"] = machine()["load_average"]
    return {
        "measured_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": found,
        "command": command,
        "parameters": parameters,
        "bare_loop_per_s": bare_per_s,
        "results": rows,
    }


def write_results(doc: dict[str, Any], folder: Path = RESULTS_DIR) -> Path:
    """``bench-<stamp>.json`` and ``latest.json``; return the first."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = doc["measured_at"].replace("-", "").replace(":", "")
    path = folder / f"bench-{stamp}.json"
    text = json.dumps(doc, indent=2, ensure_ascii=False)
    path.write_text(text, encoding="utf-8")
    (folder / "latest.json").write_text(text, encoding="utf-8")
    return path


def _number(value: Any, digits: int = 0) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and digits:
        return f"{value:,.{digits}f}"
    return f"{round(value):,}"


def _ms(value: Any) -> str:
    """Milliseconds: one decimal below 10, whole above."""
    return _number(value, 1) if isinstance(value, float) and value < 10 else _number(value)


def goal_text(row: dict[str, Any]) -> str:
    """The goals, in words."""
    return "; ".join(g["text"] for g in row.get("goals", []))


def gap_text(row: dict[str, Any]) -> str:
    """Per goal: met, how far off, or not measured."""
    parts = []
    for g in row.get("goals", []):
        if g.get("met") is None:
            parts.append("not measured")
        elif g["met"]:
            parts.append("met")
        else:
            value = f"{g['gap']:,.2f}" if g["unit"] == "×" else f"{g['gap']:,.0f}"
            unit = {"ms": " ms", "s": " s", "×": "× bare"}.get(g["unit"], g["unit"])
            at_least = "more than " if g.get("gap_at_least") else ""
            parts.append(f"{'over' if g['op'] == '<=' else 'short'} by {at_least}{value}{unit}")
    return "; ".join(parts)


def cells(row: dict[str, Any]) -> list[str]:
    """A row's table cells: scenario, count, per s, p50, p95, p99 (ms), × bare loop, goal, gap."""
    if row.get("not_measured"):
        return [row["scenario"], "", "", "", "", "", "", goal_text(row), "not measured"]
    ratio = row.get("ratio_to_bare")
    if row.get("below_per_s") is not None and row.get("throughput_per_s") is None:
        return [row["scenario"], "", f"< {row['below_per_s']:,}", "", "", "", "", goal_text(row), gap_text(row)]
    return [
        row["scenario"], _number(row.get("count")), _number(row.get("throughput_per_s")),
        *(_ms(row.get(k)) for k in ("p50_ms", "p95_ms", "p99_ms")),
        "" if ratio is None else f"{ratio:.3f}", goal_text(row), gap_text(row),
    ]  # fmt: skip


HEADERS = ["scenario", "count", "per s", "p50 ms", "p95 ms", "p99 ms", "× bare loop", "goal", "gap"]


def print_table(doc: dict[str, Any]) -> None:
    """The figures as a table on the terminal, with the bare loop they are a fraction of."""
    table = Table(title=f"smguard benchmarks (bare consume → produce loop: {_number(doc.get('bare_loop_per_s'))} records/s)")
    for header in HEADERS:
        table.add_column(header, justify="left" if header in ("scenario", "goal", "gap") else "right")
    for row in doc["results"]:
        table.add_row(*cells(row))
    console = Console()
    if not console.is_terminal:
        console = Console(width=200)  # a log file: no terminal width to wrap to
    console.print(table)
    for row in doc["results"]:
        for text in (row.get("not_measured") and f"not measured: {row['not_measured']}", row.get("note")):
            if text:
                print(f"  {row['scenario']}: {text}")
