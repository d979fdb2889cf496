"""faust agents on the service's loop read only what was committed."""

from __future__ import annotations

import pytest
from faust.contrib.asgi import faust_app_running

from shared.kafka import clients
from shared.config import Settings
from shared.kafka.admin import ensure_topics
from shared.streams import faust_app
from shared.topics import INCIDENT_EVENTS
from tests.factories import eventually

pytestmark = pytest.mark.integration


async def test_an_agent_never_sees_a_record_of_an_aborted_transaction(settings: Settings) -> None:
    await ensure_topics(settings)
    app = faust_app(settings, service="streams-test")
    seen: list[bytes] = []
    topic = app.topic(settings.topic(INCIDENT_EVENTS), key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")

    @app.agent(topic, name="collect")
    async def collect(stream):  # type: ignore[no-untyped-def]
        async for value in stream:
            seen.append(value)

    producer = clients.producer(settings, transactional_id=f"{settings.topic_prefix}streams-test"
    )
    await producer.start()
    try:
        async with faust_app_running(app):
            await producer.begin_transaction()
            await producer.send_and_wait(settings.topic(INCIDENT_EVENTS), b"aborted", key=b"k", partition=0)
            await producer.abort_transaction()
            async with producer.transaction():
                await producer.send_and_wait(settings.topic(INCIDENT_EVENTS), b"committed", key=b"k", partition=0)
            await eventually(lambda: b"committed" in seen, what="the committed record")
    finally:
        await producer.stop()
    assert seen == [b"committed"]
