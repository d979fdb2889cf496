"""One result row per fault test, appended to ``tests/faults/results/<area>.jsonl`` for the report."""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def record(*, fault: str, invariant: str, outcome: str, **figures: Any) -> Path:
    """Append a row (fault, invariant, outcome "held"/"broken", figures) to this area's results file."""
    if outcome not in ("held", "broken"):
        raise ValueError(f'outcome must be "held" or "broken", not {outcome!r}')
    test = os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0]
    area = figures.pop("area", None) or (Path(test.split("::")[0]).stem.removeprefix("test_") if test else "faults")
    row = {"fault": fault, "invariant": invariant, "outcome": outcome, "figures": figures, "test": test,
           "at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{area}.jsonl"
    with path.open("a", encoding="utf-8") as out:
        out.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
    return path
