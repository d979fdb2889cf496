"""Fixtures for the shared machinery's integration tests: stores of a small aggregate on the session's broker."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from shared.config import Settings
from shared.eventstore.kafka import KafkaEventStore
from shared.kafka.admin import ensure_topics
from tests.factories import eventually
from tests.shared.cases import layout


@pytest.fixture
async def stores(settings: Settings, tmp_path: Path):
    """Start stores (instances) of one service; all stopped at the end."""
    await ensure_topics(settings)
    started: list[KafkaEventStore] = []

    async def start(instance: int = 0, *, wait: bool = True, poll: bool = True) -> KafkaEventStore:
        store = KafkaEventStore(layout(settings, instance, tmp_path))
        await store.start()
        started.append(store)
        # the inbox loop's job: fetch, which also lets the member take part in rebalances
        store._polling = asyncio.create_task(_poll(store) if poll else asyncio.sleep(0))  # type: ignore[attr-defined]
        if wait:
            await eventually(lambda: store.ready, what=f"instance {instance} owns its partitions")
        return store

    yield start
    for store in started:
        store._polling.cancel()  # type: ignore[attr-defined]
        await store.stop()


async def _poll(store: KafkaEventStore) -> None:
    while True:
        await store.ownership.records()
