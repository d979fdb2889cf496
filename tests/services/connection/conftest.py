"""Fixtures of the connection-service tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.factories import LoopbackServer
from tests.services.connection.helpers import PeerAnswers


@pytest.fixture
def peer() -> Iterator[LoopbackServer]:
    """A real enforcement peer on 127.0.0.1 that checks signatures and acknowledges (see ``PeerAnswers``)."""
    server = LoopbackServer(PeerAnswers(), path="/enforce")
    yield server
    server.stop()
