"""The connection service's router: a faust agent over the incident topic.

How to run: both start with the service (``smguard serve connection``). The router is a faust agent
in the service's own consumer group over ``smguard.incident.events``: each incident event becomes
commands on ``smguard.connection.commands`` (``application/router.py``), sent and acknowledged by
the broker before the agent takes the next event, so the commands of one incident partition reach
each inbox partition in that partition's order. The owners decide them (``entrypoints/inbox.py``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import faust
from aiokafka.errors import KafkaError

from services.connection.application.router import route
from shared.config import Settings
from shared.backoff import Backoff
from shared.envelope import DecodeError, Envelope, Position, decode
from shared.kafka.commands import CommandSender
from shared.kafka.deadletters import DeadLetters
from shared.streams import faust_app
from shared.topics import CONNECTION_COMMANDS, INCIDENT_EVENTS

log = logging.getLogger(__name__)
RETRY = Backoff(base=0.5, cap=10.0)


def router_app(settings: Settings, sender: CommandSender, dead_letters: DeadLetters) -> faust.App:
    """The faust app of the router: reads committed incident events (``shared.streams``), sends their commands."""
    app = faust_app(settings, service="connection")
    source = app.topic(
        settings.topic(INCIDENT_EVENTS), key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
    )

    @app.agent(source, name="connection-router")
    async def router(stream: faust.StreamT) -> None:
        async for event in stream.events():
            await forward(sender, event.message, dead_letters)

    return app


async def forward(sender: CommandSender, message: Any, dead_letters: DeadLetters) -> None:
    """Send the commands one incident record calls for, retrying while the broker is away (the agent acks the
    record only after); an unreadable record is skipped (the read models' subscriber dead-letters it), one
    that cannot be routed is dead-lettered."""
    try:
        envelope = decode(message.value, key=message.key, position=Position(message.topic, message.partition, message.offset))
    except DecodeError:
        return
    attempt = 0
    while True:
        try:
            return await _send(sender, envelope)
        except (KafkaError, OSError) as exc:
            attempt += 1
            log.warning("incident event not routed yet; retrying", extra={"event_id": envelope.id, "error": repr(exc)})
            await asyncio.sleep(RETRY.delay(attempt))
        except Exception as exc:  # a bug must not stop the commands of every later incident event
            log.exception("incident event could not be routed; dead-lettered", extra={"event_id": envelope.id})
            return await dead_letters.send(message, f"{type(exc).__name__}: {exc}")


async def _send(sender: CommandSender, envelope: Envelope) -> None:
    keyed = []
    for routed in route(envelope):
        body = routed.command.model_dump(mode="json")
        if routed.key is None:
            await sender.broadcast(CONNECTION_COMMANDS, body)
        else:
            keyed.append((routed.key, body))
    if keyed:
        await sender.send_many(CONNECTION_COMMANDS, keyed)
