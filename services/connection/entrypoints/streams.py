"""What the connection service consumes of other services: the router over the incident topic, and its inbox.

How to run: both start with the service (``smguard serve connection``). The router is a faust agent
in the service's own consumer group over ``smguard.incident.events``: each incident event becomes
commands on ``smguard.connection.commands`` (``application/router.py``), sent and acknowledged by
the broker before the agent takes the next event, so the commands of one incident partition reach
each inbox partition in that partition's order. The inbox handler decodes the commands of a
partition this instance owns and lets the application decide them (``application/reactions.py``);
a record that is not a command is dead-lettered with the reason.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable

import faust
from aiokafka import ConsumerRecord
from aiokafka.errors import KafkaError
from pydantic import TypeAdapter, ValidationError

from services.connection.application.reactions import decide_batch
from services.connection.application.router import route
from services.connection.application.service import ConnectionService
from services.connection.domain.commands import Reaction
from shared.config import Settings
from shared.backoff import Backoff
from shared.envelope import DecodeError, Envelope, Position, decode
from shared.eventstore import InboxRecord, StoreUnavailable
from shared.kafka.commands import CommandSender
from shared.kafka.deadletters import DeadLetters
from shared.streams import faust_app
from shared.topics import CONNECTION_COMMANDS, INCIDENT_EVENTS

log = logging.getLogger(__name__)
COMMAND = TypeAdapter(Reaction)
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


class Inbox:
    """The inbox handler: a batch of one owned partition's commands, decoded and decided in order."""

    def __init__(
        self, service: ConnectionService, dead_letters: DeadLetters, *, ready: Callable[[], Awaitable[None]]
    ) -> None:
        """``ready``: what to wait for before the first decision (the read models decided with, caught up)."""
        self._service, self._dlq, self._ready = service, dead_letters, ready
        self._is_ready = False

    async def __call__(self, partition: int, records: list[ConsumerRecord]) -> None:
        """Decide the batch (its inbox offset commits with the decisions); dead-letter what is not a command."""
        if not self._is_ready:
            try:
                await self._ready()  # the policy's history must be read before it decides anything
            except TimeoutError as exc:
                raise StoreUnavailable(f"the read models are not caught up yet: {exc}") from None
            self._is_ready = True
        commands = []
        for record in records:
            try:
                commands.append(COMMAND.validate_json(record.value))
            except ValidationError as exc:
                await self._dlq.send(record, f"not a connection command: {exc.errors(include_url=False)}")
                commands.append(None)
        last = records[-1]
        await decide_batch(self._service, partition, commands, last=InboxRecord(last.topic, last.partition, last.offset))
