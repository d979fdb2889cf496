"""Fixtures shared by the whole test suite: one real Kafka broker, and per-test topics and settings."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.config import Settings
from shared.localbroker import provide_broker
from tests.factories import make_settings


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """bootstrap.servers of one Kafka broker for the whole session (see ``shared.localbroker``)."""
    with provide_broker() as bootstrap:
        yield bootstrap


@pytest.fixture
def topic_prefix() -> str:
    """A prefix unique to this test, e.g. "t1f2e3d4c.", for topic and group names."""
    return f"t{uuid.uuid4().hex[:8]}."


@pytest.fixture
def settings(kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> Settings:
    """Settings for one test against the session's broker, with unique topic names."""
    return make_settings(kafka_bootstrap, topic_prefix, tmp_path / "data")
