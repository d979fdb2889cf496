"""The notification service's router: a faust agent over the other services' topics.

How to run: both start with the service (``smguard serve notification``). The router reads every
domain topic (incident, connection, policy, operator, contact) in its own consumer group, so the
instances share its partitions. For each event it waits until the event is committed and the
knowledge has applied it, then sends one ``queue`` command per route of the table to
``smguard.notification.commands``, keyed by the route's idempotency key (a coalesced route's by its
group, so one instance decides a group's members in order); it acks a record only once
its commands are on the broker. The instance owning the key's partition decides them
(``entrypoints/inbox.py``).
"""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace
from typing import Any

import faust
from aiokafka.errors import KafkaError

from shared import tracing
from shared.backoff import Backoff
from shared.envelope import DecodeError, Envelope, Position, decode
from shared.eventstore import StoreUnavailable
from shared.kafka.commands import CommandSender
from shared.kafka.deadletters import DeadLetters
from shared.topics import NOTIFICATION_COMMANDS
from services.notification.adapters.commits import CommitWatch
from services.notification.application import handlers
from services.notification.application.service import NotificationService
from services.notification.domain.commands import command_record

log = logging.getLogger(__name__)
RETRY = Backoff(base=0.5, cap=10.0)
TRANSIENT = (KafkaError, OSError, TimeoutError, StoreUnavailable)  # the broker away, or a projection far behind


class Router:
    """Turns each committed domain event into queue commands for the owners of their keys."""

    def __init__(
        self, service: NotificationService, *, watch: CommitWatch, sender: CommandSender, dead_letters: DeadLetters
    ) -> None:
        self._service, self._watch, self._sender, self._dlq = service, watch, sender, dead_letters
        self.handled = 0

    async def handle(self, record: SimpleNamespace) -> None:
        """Route one record (retried while the broker is away; a record that cannot be routed is dead-lettered)."""
        try:
            envelope = decode(record.value, position=Position(record.topic, record.partition, record.offset))
        except DecodeError:
            log.warning("an unreadable domain record is not routed", extra={"topic": record.topic, "offset": record.offset})
        else:
            span = tracing.start_process(
                record.topic, parent=envelope.traceparent,
                attributes={"messaging.message.id": envelope.id, "smguard.event.type": envelope.type},
            ) if tracing.ENABLED else None  # fmt: skip
            with tracing.current(span):  # the commands it sends continue the event's trace
                await self._route(record, envelope)
            tracing.end(span)
        self.handled += 1

    async def _route(self, record: SimpleNamespace, envelope: Envelope) -> None:
        attempt = 0
        while True:
            try:
                if await self._watch.committed(envelope):
                    commands = handlers.route(self._service, envelope)
                    await self._sender.send_many(NOTIFICATION_COMMANDS, [(c.partition_key, command_record(c)) for c in commands])
                else:  # its transaction was aborted (or the projection parked it: then /ops/parked lists it)
                    log.warning("an event its projection did not apply is not routed", extra={"event_id": envelope.id})
                return
            except TRANSIENT as exc:
                attempt += 1
                log.warning("routing not done; retrying", extra={"event_id": envelope.id, "error": repr(exc)})
                await asyncio.sleep(RETRY.delay(attempt))
            except Exception as exc:  # a bug must not stop every notification behind this event
                log.exception("routing failed; dead-lettered", extra={"event_id": envelope.id})
                await self._dlq.send(record, f"{type(exc).__name__}: {exc}")
                return


def install_router(app: faust.App, *, topics: list[str], router: Router) -> Any:
    """Declare the agent that feeds the domain topics, record by record, into ``router``."""
    source = app.topic(*topics, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")

    @app.agent(source, name="notification-router")
    async def route(stream: faust.StreamT) -> None:
        async for event in stream.events():
            message = event.message
            await router.handle(SimpleNamespace(
                topic=message.topic, partition=message.partition, offset=message.offset, key=message.key,
                value=message.value,
            ))  # fmt: skip

    return route
