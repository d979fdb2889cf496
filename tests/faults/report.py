"""A row of the fault tests' report: one JSON line per fault tested, in ``tests/faults/results/<area>.jsonl``."""

from __future__ import annotations

import inspect
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def record(*, fault: str, invariant: str, outcome: str, **figures: Any) -> Path:
    """Append what a fault test found: the fault, the invariant checked, "held" or "broken", and its figures.

    The area (the file's name) is the calling test module's name without ``test_`` (``test_cluster`` → cluster).
    """
    if outcome not in ("held", "broken"):
        raise ValueError(f"outcome is 'held' or 'broken', not {outcome!r}")
    caller = Path(inspect.stack()[1].filename).stem
    area = caller.removeprefix("test_") or "faults"
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{area}.jsonl"
    row = {"fault": fault, "invariant": invariant, "outcome": outcome, "figures": figures,
           "at": datetime.now(timezone.utc).isoformat(timespec="seconds")}  # fmt: skip
    with path.open("a", encoding="utf-8") as out:
        out.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
    return path
