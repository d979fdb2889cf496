"""The whole system as real processes on the session's broker, with a real SMTP server and HES peer."""

from __future__ import annotations

from typing import Iterator

import pytest

from shared.processes import System
from tests.system import ENFORCEMENT_SECRET, whole_system

__all__ = ["ENFORCEMENT_SECRET", "system"]


@pytest.fixture(scope="module")
def system(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    """The four services started as ``smguard run`` starts them; mail and HES requests kept on disk."""
    with whole_system(kafka_bootstrap, tmp_path_factory.mktemp("e2e"), stem="e2e") as running:
        yield running
