"""The whole system as ``smguard run`` starts it, for the tests that need it: the four services (and the console
when asked) as real processes on the session's broker, a real SMTP server and HES peer keeping what they
receive on disk. One place for the end-to-end and the console's browser tests."""

from __future__ import annotations

import contextlib
import uuid
from pathlib import Path
from typing import Iterator

from shared.devhes import DevHes
from shared.devmail import start_catcher
from shared.localbroker import broker_module
from shared.processes import System
from tests.factories import TEST_SECRET

ENFORCEMENT_SECRET = "e2e-enforcement-secret-0123456789"


@contextlib.contextmanager
def whole_system(bootstrap: str, data: Path, *, stem: str, console: bool = False, timeout: float = 90.0) -> Iterator[System]:
    """Started and ready; stopped (with its peers) on leaving. ``system.mail_dir`` and ``system.hes_log`` are where
    the mail and the enforcement requests go; ``stem`` starts the run's own topic prefix."""
    free_port = broker_module().free_port
    smtp_port, hes_port = free_port(), free_port()
    catcher = start_catcher(data / "mail", port=smtp_port)
    hes = DevHes(port=hes_port, secret=ENFORCEMENT_SECRET, folder=data / "hes")
    hes.start()
    running = System(
        bootstrap=bootstrap,
        prefix=f"{stem}{uuid.uuid4().hex[:6]}.",
        data_dir=data / "services",
        secret=TEST_SECRET,
        console=console,
        extra_env={
            "SMGUARD_SMTP_HOST": "127.0.0.1",
            "SMGUARD_SMTP_PORT": str(smtp_port),
            "SMGUARD_ENFORCEMENT_URL": f"http://127.0.0.1:{hes_port}/enforce",
            "SMGUARD_ENFORCEMENT_SECRET": ENFORCEMENT_SECRET,
            "SMGUARD_ENFORCEMENT_MODE": "bulk",  # as smguard run sets it for its HES stand-in
            "SMGUARD_DISPATCH_INTERVAL_SECONDS": "0.2",
            "SMGUARD_ENFORCEMENT_SWEEP_SECONDS": "0.2",
        },
    )
    running.mail_dir = data / "mail"  # type: ignore[attr-defined]
    running.hes_log = hes.log_file  # type: ignore[attr-defined]
    try:
        running.start(timeout=timeout)
        yield running
    finally:
        running.stop()
        hes.stop()
        catcher.stop()
