"""Fixtures for backbone integration tests: event stores on the session's real broker."""

from __future__ import annotations

from typing import AsyncIterator, Awaitable, Callable

import pytest

from shared.config import Settings
from shared.eventstore.kafka import KafkaEventStore
from shared.kafka.admin import ensure_topics
from shared.topics import INCIDENT_EVENTS

StoreFactory = Callable[..., Awaitable[KafkaEventStore]]


@pytest.fixture
async def make_store(settings: Settings) -> AsyncIterator[StoreFactory]:
    """Start KafkaEventStores over the test's incident topic; all are stopped at the end."""
    await ensure_topics(settings)
    started: list[KafkaEventStore] = []

    async def make(transactional_id: str = "writer") -> KafkaEventStore:
        store = KafkaEventStore(
            bootstrap=settings.kafka_bootstrap_servers,
            topics={INCIDENT_EVENTS: settings.topic(INCIDENT_EVENTS)},
            source="smguard/test",
            transactional_id=settings.topic_prefix + transactional_id,
        )
        await store.start()
        started.append(store)
        return store

    yield make
    for store in started:
        await store.stop()
