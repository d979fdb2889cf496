"""Item 8: ``smguard run`` starts a service process that died again (with back-off), says so in its
output and in the service's log, and leaves the other services alone; it stops only on a signal."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.faults.report import record
from tests.faults.smguard_run import Run, _alive

pytestmark = pytest.mark.integration

OTHERS_RESTARTED = re.compile(r"^smguard run: (connection|notification|audit|console)\b.*(was killed|exited|started again)", re.M)
RESTART_DEADLINE = 180.0  # back-off (1 s) + a service start on a busy machine


def _ready(run: Run, service: str) -> bool:
    try:
        return httpx.get(f"{run.url(service)}/readyz", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def test_a_killed_service_is_started_again_and_the_others_are_left_alone(tmp_path: Path) -> None:
    run = Run(tmp_path / "data")
    try:
        run.start()
        before = run.service_pids()
        assert set(before) == {"incident", "connection", "notification", "audit", "console"}, run.text()[-2000:]
        killed_at = time.monotonic()
        os.kill(before["incident"], signal.SIGKILL)

        deadline = time.monotonic() + RESTART_DEADLINE
        while not ("incident ready again" in run.text() and _ready(run, "incident")):
            assert run.proc is not None and run.proc.poll() is None, f"smguard run stopped:\n{run.text()[-3000:]}"
            assert time.monotonic() < deadline, f"incident not back:\n{run.text()[-3000:]}"
            time.sleep(0.5)
        back_after = time.monotonic() - killed_at
        after = run.service_pids()
        text = run.text()
        log = (tmp_path / "data" / "logs" / "incident.log").read_text(errors="replace")
        others_untouched = all(after[s] == before[s] and _alive(before[s], "shared.cli") for s in ("connection", "notification", "audit", "console"))
        held = (after["incident"] != before["incident"] and others_untouched and "was killed by SIGKILL" in text
                and "[smguard run] restart 1: incident ready again" in log and not OTHERS_RESTARTED.search(text))  # fmt: skip
        record(fault="SIGKILL of one service under smguard run", invariant="the service is started again and ready; the others never restarted; run keeps running",
               outcome="held" if held else "broken", back_after_seconds=round(back_after, 1), old_pid=before["incident"], new_pid=after["incident"])  # fmt: skip
        assert "incident (pid %d) was killed by SIGKILL" % before["incident"] in text, text[-2000:]
        assert after["incident"] != before["incident"]
        assert others_untouched, (before, after)
        assert not OTHERS_RESTARTED.search(text), text[-2000:]
        assert "[smguard run] incident (pid %d) was killed by SIGKILL" % before["incident"] in log
        assert "[smguard run] restart 1: incident ready again" in log

        run.signal(signal.SIGTERM, group=True)  # and it still stops everything
        code, _ = run.wait_stopped()
        assert code == 0 and not run.left_running() and not run.busy_ports(), run.text()[-2000:]
    finally:
        run.kill()
