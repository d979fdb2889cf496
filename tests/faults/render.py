"""Render the fault tests' results (``tests/faults/results/*.jsonl``) as docs/reliability.md's table.

``python -m tests.faults.render [--out docs/reliability.md]``; ``render(rows, ...)`` is pure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from tests.faults.report import RESULTS_DIR

COMMAND = "make faults"


def load(folder: Path = RESULTS_DIR) -> list[dict[str, Any]]:
    """Every row of every results file, in file then line order."""
    rows = []
    for path in sorted(folder.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                rows.append(json.loads(line))
    return rows


def latest(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The last row for each (fault, invariant, test): a re-run replaces the earlier result."""
    kept: dict[tuple[str, str, str], dict[str, Any]] = {}
    for row in rows:
        kept[(row["fault"], row["invariant"], row.get("test", ""))] = row
    return list(kept.values())


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _figures(figures: dict[str, Any]) -> str:
    return ", ".join(f"{k}={_cell(v) if not isinstance(v, (list, dict)) else _cell(json.dumps(v, ensure_ascii=False))}"
                     for k, v in figures.items())


def render(rows: Iterable[dict[str, Any]], *, machine: str, date: str, command: str = COMMAND) -> str:
    """The markdown: a header (machine, date, command) and one table row per result."""
    kept = latest(rows)
    held = sum(1 for r in kept if r["outcome"] == "held")
    lines = [
        "# Reliability: faults injected and what held",
        "",
        f"Measured on {machine}, {date}, with `{command}`.",
        f"{held} of {len(kept)} results held.",
        "",
        "| fault | invariant | outcome | figures | test |",
        "|---|---|---|---|---|",
    ]
    for row in kept:
        outcome = "**broken**" if row["outcome"] == "broken" else "held"
        lines.append(f"| {_cell(row['fault'])} | {_cell(row['invariant'])} | {outcome} | "
                     f"{_figures(row.get('figures', {}))} | `{_cell(row.get('test', ''))}` |")
    return "\n".join(lines) + "\n"


def machine() -> str:
    """This machine, in a few words."""
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.faults.render", description=__doc__)
    parser.add_argument("--out", type=Path, help="write here (default: standard output)")
    parser.add_argument("--command", default=COMMAND, help="the command the results came from (default: %(default)s)")
    args = parser.parse_args(argv)
    rows = load()
    if not rows:
        print(f"no results in {RESULTS_DIR}: run the fault tests first (make faults)", file=sys.stderr)
        return 1
    text = render(rows, machine=machine(), date=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), command=args.command)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
