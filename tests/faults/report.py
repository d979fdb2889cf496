"""Result rows of the fault tests: one JSON line per fault in ``tests/faults/results/<area>.jsonl``."""

from __future__ import annotations

import inspect
import json
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def record(*, fault: str, invariant: str, outcome: str, **figures: Any) -> None:
    """Append a row for the calling test module's area (``test_shutdown.py`` -> ``shutdown.jsonl``)."""
    if outcome not in ("held", "broken"):
        raise ValueError(f"outcome is 'held' or 'broken', not {outcome!r}")
    caller = Path(inspect.stack()[1].filename).stem
    area = caller.removeprefix("test_")
    RESULTS.mkdir(parents=True, exist_ok=True)
    row = {"fault": fault, "invariant": invariant, "outcome": outcome, "at": time.strftime("%Y-%m-%dT%H:%M:%S"), **figures}
    with open(RESULTS / f"{area}.jsonl", "a", encoding="utf-8") as out:
        out.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
