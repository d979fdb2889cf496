"""Fixtures shared by the whole test suite: one real Kafka broker, and per-test topics and settings."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.config import Settings
from shared.localbroker import provide_broker
from tests.factories import delete_topics, make_settings


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """bootstrap.servers of one Kafka broker for the whole session (see ``shared.localbroker``)."""
    with provide_broker() as bootstrap:
        yield bootstrap


@pytest.fixture
def topic_prefix(kafka_bootstrap: str) -> Iterator[str]:
    """A prefix unique to this test, e.g. "t1f2e3d4c.", for topic and group names; its topics are deleted after.

    A broker that keeps every test's topics slows down as the session goes on (each consumer's
    metadata, the controller's work): the suite would measure its own history.
    """
    prefix = f"t{uuid.uuid4().hex[:8]}."
    yield prefix
    delete_topics(kafka_bootstrap, prefix)


@pytest.fixture
def settings(kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> Settings:
    """Settings for one test against the session's broker, with unique topic names."""
    return make_settings(kafka_bootstrap, topic_prefix, tmp_path / "data")
