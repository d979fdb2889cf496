"""Item 7: SIGINT or SIGTERM to ``smguard run`` or to its whole process group stops every service and the
broker within 30 s, in-flight appends finished or refused, nothing left running, every port free.

Each test starts twice on the same data dir (the second start also proves that what the first
acknowledged survived); the two tests cover the four combinations of signal and target.
"""

from __future__ import annotations

import signal
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest

from shared.config import Settings
from tests.factories import TEST_SECRET, bearer
from tests.faults.conftest import full_only
from tests.faults.report import record
from tests.faults.smguard_run import STOP_DEADLINE, Run
from tests.services.incident.helpers import incident_body

pytestmark = pytest.mark.integration

INVARIANT = "every service and the broker stop within 30 s; in-flight appends finished or refused; no process left, ports free"


def _headers() -> dict[str, str]:
    return bearer(Settings(jwt_secret=TEST_SECRET), "utility_soc")


class Reporter:
    """Opens incidents, one new connection each, until told to stop; sorts every answer."""

    def __init__(self, run: Run) -> None:
        self.run, self.done = run, threading.Event()
        self.acknowledged: dict[str, str] = {}  # idempotency key -> incident id
        self.refused: list[str] = []  # not accepted: connection refused, 503
        self.unknown: list[str] = []  # cut off mid-request: applied or not, a retry must tell
        self.other: list[str] = []
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        url = f"{self.run.url('incident')}/incidents"
        while not self.done.is_set():
            key = uuid.uuid4().hex
            headers = {**_headers(), "Idempotency-Key": key}
            try:
                answer = httpx.post(url, json=incident_body(), headers=headers, timeout=30)
            except httpx.ConnectError:
                self.refused.append(key)
                self.done.wait(0.05)  # nothing listens any more: do not spin
                continue
            except httpx.TransportError:
                self.unknown.append(key)
                continue
            if answer.status_code == 201:
                self.acknowledged[key] = answer.json()["id"]
            elif answer.status_code == 503:
                self.refused.append(key)
            else:
                self.other.append(f"{answer.status_code} {answer.text[:200]}")

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.done.set()
        self.thread.join(60)


def _stop_and_check(run: Run, signum: int, *, group: bool, load: Reporter | None = None, repeat: bool = False) -> dict:
    """Send the signal (``repeat``: once more while it stops, as ``make`` passes a group's SIGTERM on to its
    child); return the figures; fail if anything is left."""
    how = f"{signal.Signals(signum).name} to the {'process group' if group else 'process'}" + (", then again while stopping" if repeat else "")
    run.signal(signum, group=group)
    if repeat:
        deadline = time.monotonic() + STOP_DEADLINE
        while "stopping (" not in run.text() and time.monotonic() < deadline and run.proc.poll() is None:  # type: ignore[union-attr]
            time.sleep(0.05)
        if run.proc.poll() is None:  # type: ignore[union-attr]
            run.signal(signum, group=False)
    code, seconds = run.wait_stopped()
    if load is not None:
        load.stop()
    left, busy = run.left_running(), run.busy_ports()
    held = code is not None and not left and not busy and (load is None or not load.other)
    figures = {"signal": how, "exit_code": code, "stop_seconds": round(seconds, 1), "left_running": sorted(left.values()),
               "busy_ports": busy, "processes_seen": len(run.seen)}  # fmt: skip
    if load is not None:
        figures.update(acknowledged=len(load.acknowledged), refused=len(load.refused), cut_off=len(load.unknown))
    record(fault=f"{how} of smguard run", invariant=INVARIANT, outcome="held" if held else "broken", **figures)
    if not held:
        run.kill()
    assert code is not None, f"smguard run still running {STOP_DEADLINE:.0f}s after {how}:\n{run.text()[-3000:]}"
    assert code == 0, f"smguard run exited {code} after {how}:\n{run.text()[-3000:]}"
    assert not left, f"left running after {how}: {left}"
    assert not busy, f"ports still held after {how}: {busy}"
    assert "stopping Kafka" in run.text(), run.text()[-2000:]
    if load is not None:
        assert not load.other, f"answers that are neither done nor refused: {load.other[:5]}"
    return figures


def _check_kept(run: Run, load: Reporter) -> None:
    """What the first run acknowledged is there; what was cut off is decided once when retried."""
    headers = _headers()
    missing = [i for i in load.acknowledged.values()
               if httpx.get(f"{run.url('incident')}/incidents/{i}", headers=headers, timeout=10).status_code != 200]  # fmt: skip
    assert not missing, f"acknowledged before the stop, gone after it: {missing}"
    for key in load.unknown + load.refused[:5]:
        first = httpx.post(f"{run.url('incident')}/incidents", json=incident_body(), headers={**headers, "Idempotency-Key": key}, timeout=30)
        again = httpx.post(f"{run.url('incident')}/incidents", json=incident_body(), headers={**headers, "Idempotency-Key": key}, timeout=30)
        assert first.status_code == again.status_code == 201 and first.json()["id"] == again.json()["id"], (first.text, again.text)
    for key, incident in list(load.acknowledged.items())[:5]:
        retry = httpx.post(f"{run.url('incident')}/incidents", json=incident_body(), headers={**headers, "Idempotency-Key": key}, timeout=30)
        assert retry.status_code == 201 and retry.json()["id"] == incident, "an acknowledged append applied twice on retry"


def _with_load(run: Run) -> Reporter:
    load = Reporter(run)
    load.start()
    # the signal lands while appends are in flight
    deadline = time.monotonic() + 60
    while len(load.acknowledged) < 5:
        assert time.monotonic() < deadline and not load.other, f"no appends acknowledged: {load.other[:3]}"
        load.done.wait(0.1)
    return load


def _scenario(tmp_path: Path, first: tuple[int, bool], second: tuple[int, bool]) -> None:
    data = tmp_path / "data"
    run = Run(data)
    try:
        run.start()
        load = _with_load(run)
        _stop_and_check(run, first[0], group=first[1], load=load, repeat=True)
        again = Run(data)
        again.ports, again.kafka_port = run.ports, run.kafka_port  # the same system, started again
        again.start()
        _check_kept(again, load)
        _stop_and_check(again, second[0], group=second[1])
    finally:
        run.kill()
        if "again" in locals():
            again.kill()


def test_sigterm_to_the_group_then_sigint_to_the_process_stop_everything(tmp_path: Path) -> None:
    _scenario(tmp_path, (signal.SIGTERM, True), (signal.SIGINT, False))


@full_only  # the other two combinations; CI's budget runs the two above
def test_sigterm_to_the_process_then_sigint_to_the_group_stop_everything(tmp_path: Path) -> None:
    _scenario(tmp_path, (signal.SIGTERM, False), (signal.SIGINT, True))
