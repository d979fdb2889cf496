"""Fixtures of the connection-service tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.services.connection.helpers import Peer


@pytest.fixture
def peer() -> Iterator[Peer]:
    """A real enforcement peer on 127.0.0.1 that acknowledges every request."""
    server = Peer().start()
    yield server
    server.stop()
