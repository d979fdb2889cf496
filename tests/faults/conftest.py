"""Fixtures of the fault tests."""

from __future__ import annotations

import pytest

from tests.factories import uid


@pytest.fixture
def operator_id() -> str:
    """A unique operator (tenant) id."""
    return uid("op")


async def send_raw(settings, base: str, records: list[tuple[bytes | None, bytes | None]]) -> None:
    """Write records as they are (key, value) to a topic, with a plain producer: what a broken writer could send."""
    from shared.kafka import clients

    producer = clients.producer(settings, acks="all")
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(settings.topic(base), value, key=key)
    finally:
        await producer.stop()
