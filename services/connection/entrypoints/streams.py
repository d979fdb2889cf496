"""The connection service's router: a faust agent over the incident topic.

How to run: both start with the service (``smguard serve connection``). The router is a faust agent
in the service's own consumer group over ``smguard.incident.events``: each incident event becomes
commands on ``smguard.connection.commands`` (``application/router.py``), sent and acknowledged by
the broker before the agent acks the batch of events they came from (up to 500 at a time), so the
commands of one incident partition reach each inbox partition in that partition's order. The
owners decide them (``entrypoints/inbox.py``).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Any

import faust
from aiokafka.errors import KafkaError

from services.connection.application.router import route
from shared import tracing
from shared.config import Settings
from shared.backoff import Backoff
from shared.envelope import DecodeError, Envelope, Position, decode
from shared.kafka.commands import CommandSender
from shared.kafka.deadletters import DeadLetters
from shared.streams import faust_app
from shared.topics import CONNECTION_COMMANDS, INCIDENT_EVENTS

log = logging.getLogger(__name__)
RETRY = Backoff(base=0.5, cap=10.0)
BATCH, BATCH_WITHIN = 500, 0.02  # incident records routed together (one wait for the broker), at most 20 ms apart


def router_app(settings: Settings, sender: CommandSender, dead_letters: DeadLetters) -> faust.App:
    """The faust app of the router: reads committed incident events (``shared.streams``), sends their commands."""
    app = faust_app(settings, service="connection")
    source = app.topic(
        settings.topic(INCIDENT_EVENTS), key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
    )

    @app.agent(source, name="connection-router")
    async def router(stream: faust.StreamT) -> None:
        async for events in stream.take_events(BATCH, within=BATCH_WITHIN):
            await forward_many(sender, [event.message for event in events], dead_letters)

    return app


async def forward_many(sender: CommandSender, messages: list[Any], dead_letters: DeadLetters) -> None:
    """Send the commands of a batch of incident records in their order and wait for all of them (faust acks
    the batch only after); retried while the broker is away. An unreadable or unkeyed record is skipped
    (the read models' subscriber dead-letters it); if a record cannot be routed, each record is routed
    alone so that only that one is dead-lettered."""
    envelopes = [envelope for envelope in map(_readable, messages) if envelope is not None]
    spans = [_span(envelope) for envelope in envelopes] if tracing.ENABLED else []
    if spans:  # each command continues the trace of its event, from the router's span
        envelopes = [replace(e, traceparent=tracing.traceparent_of(s) or e.traceparent) for e, s in zip(envelopes, spans)]
    try:
        try:
            commands = [command for envelope in envelopes for command in _commands(envelope)]
        except Exception:  # a bug must not stop the commands of every later incident event
            for message in messages:
                await forward(sender, message, dead_letters)
            return
        await _sending(sender, commands, about=f"{len(messages)} incident events")
    finally:
        for span in spans:
            tracing.end(span)


def _span(envelope: Envelope) -> tracing.Span | None:
    """The router's span of one incident event: a child of the span that wrote it."""
    assert envelope.position is not None
    return tracing.start_process(
        envelope.position.topic, parent=envelope.traceparent,
        attributes={"messaging.message.id": envelope.id, "smguard.event.type": envelope.type,
                    "smguard.incident_id": envelope.subject},
    )  # fmt: skip


async def forward(sender: CommandSender, message: Any, dead_letters: DeadLetters) -> None:
    """Send the commands one incident record calls for (as ``forward_many`` does for a batch)."""
    envelope = _readable(message)
    if envelope is None:
        return
    try:
        commands = _commands(envelope)
    except Exception as exc:
        log.exception("incident event could not be routed; dead-lettered", extra={"event_id": envelope.id})
        return await dead_letters.send(message, f"{type(exc).__name__}: {exc}")
    await _sending(sender, commands, about=envelope.id)


async def _sending(sender: CommandSender, commands: list[tuple[str | None, dict[str, Any]]], *, about: str) -> None:
    attempt = 0
    while True:
        try:
            return await sender.send_in_order(CONNECTION_COMMANDS, commands)
        except (KafkaError, OSError) as exc:
            attempt += 1
            log.warning("incident events not routed yet; retrying", extra={"events": about, "error": repr(exc)})
            await asyncio.sleep(RETRY.delay(attempt))


def _readable(message: Any) -> Envelope | None:
    """The incident event of a record; None for one the read models' subscriber dead-letters (unreadable, or
    without the key every event record has): the router acts on no record the service's own ledger leaves out."""
    if not message.key:
        return None
    try:
        return decode(message.value, key=message.key, position=Position(message.topic, message.partition, message.offset))
    except DecodeError:
        return None


def _commands(envelope: Envelope) -> list[tuple[str | None, dict[str, Any]]]:
    return [(routed.key, routed.command.model_dump(mode="json")) for routed in route(envelope)]
