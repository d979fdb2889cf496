"""The whole system as real processes on the session's broker, with a real SMTP server and HES peer."""

from __future__ import annotations

import uuid
from typing import Iterator

import pytest

from shared.devhes import DevHes
from shared.devmail import start_catcher
from shared.localbroker import broker_module
from shared.processes import System
from tests.factories import TEST_SECRET

ENFORCEMENT_SECRET = "e2e-enforcement-secret-0123456789"


@pytest.fixture(scope="module")
def system(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    """The four services started as ``smguard run`` starts them; mail and HES requests kept on disk."""
    data = tmp_path_factory.mktemp("e2e")
    free_port = broker_module().free_port
    smtp_port, hes_port = free_port(), free_port()
    catcher = start_catcher(data / "mail", port=smtp_port)
    hes = DevHes(port=hes_port, secret=ENFORCEMENT_SECRET, folder=data / "hes")
    hes.start()
    running = System(
        bootstrap=kafka_bootstrap,
        prefix=f"e2e{uuid.uuid4().hex[:6]}.",
        data_dir=data / "services",
        secret=TEST_SECRET,
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
        running.start()
        yield running
    finally:
        running.stop()
        hes.stop()
        catcher.stop()

