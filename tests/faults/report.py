"""Result rows of the fault tests: one JSON line per fault, for the reliability report."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def record(*, fault: str, invariant: str, outcome: str, **figures: Any) -> None:
    """Append a row (``outcome``: "held" or "broken") to ``results/<area>.jsonl``; the area is the test module's name
    without ``test_`` (or ``SMGUARD_FAULTS_AREA``)."""
    import inspect

    if outcome not in ("held", "broken"):
        raise ValueError(f"outcome is 'held' or 'broken', not {outcome!r}")
    caller = inspect.stack()[1].filename
    area = os.environ.get("SMGUARD_FAULTS_AREA") or Path(caller).stem.removeprefix("test_")
    RESULTS.mkdir(parents=True, exist_ok=True)
    row = {"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "fault": fault, "invariant": invariant, "outcome": outcome, **figures}
    with (RESULTS / f"{area}.jsonl").open("a", encoding="utf-8") as out:
        out.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
