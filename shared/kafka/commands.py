"""Commands for another instance's (or service's) inbox: JSON records keyed by the aggregate they are for.

At least once: a command sent twice is decided once, because every command carries an idempotency
key the deciding instance keeps (``shared.repository``). A broadcast goes to every partition of the
inbox, for decisions each owner takes over its own aggregates (e.g. a fleet-wide block).
"""

from __future__ import annotations

from typing import Any, TypeVar

from aiokafka import AIOKafkaProducer

from shared import jsoncodec
from shared import tracing
from shared.kafka import clients
from shared.config import Settings


class CommandSender:
    """A runtime component that sends commands to inbox topics."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        """Connect (aiokafka clients are made inside the running loop)."""
        self._producer = clients.producer(
            self._settings, acks="all", enable_idempotence=True, linger_ms=1
        )
        await self._producer.start()

    async def stop(self) -> None:
        """Flush and disconnect."""
        if self._producer is not None:
            await self._producer.stop()

    async def send(self, inbox: str, key: str, command: dict[str, Any]) -> None:
        """Send one command keyed by ``key`` (its partition decides which instance takes it); waits for the broker."""
        assert self._producer is not None, "start() first"
        await self._producer.send_and_wait(self._settings.topic(inbox), _body(command), key=key.encode())

    async def send_many(self, inbox: str, commands: list[tuple[str, dict[str, Any]]]) -> None:
        """Send several commands, then wait for all of them."""
        assert self._producer is not None, "start() first"
        topic = self._settings.topic(inbox)
        if tracing.ENABLED:
            with tracing.sending(topic, [command.get("traceparent") for _, command in commands]) as span:
                return await self._many(topic, _continued(commands, span))
        await self._many(topic, commands)

    async def _many(self, topic: str, commands: list[tuple[str, dict[str, Any]]]) -> None:
        assert self._producer is not None, "start() first"
        sent = [await self._producer.send(topic, _body(command), key=key.encode()) for key, command in commands]
        for future in sent:
            await future

    async def send_in_order(self, inbox: str, commands: list[tuple[str | None, dict[str, Any]]]) -> None:
        """Send commands in this order (key None: to every partition), then wait for all of them.

        The producer is idempotent, so the commands of each partition land in the order given.
        """
        assert self._producer is not None, "start() first"
        topic = self._settings.topic(inbox)
        if tracing.ENABLED:
            with tracing.sending(topic, [command.get("traceparent") for _, command in commands]) as span:
                return await self._in_order(topic, _continued(commands, span))
        await self._in_order(topic, commands)

    async def _in_order(self, topic: str, commands: list[tuple[str | None, dict[str, Any]]]) -> None:
        assert self._producer is not None, "start() first"
        partitions = sorted(await self._producer.partitions_for(topic)) if any(k is None for k, _ in commands) else []
        sent = []
        for key, command in commands:
            if key is None:
                sent += [await self._producer.send(topic, _body(command), partition=p) for p in partitions]
            else:
                sent.append(await self._producer.send(topic, _body(command), key=key.encode()))
        for future in sent:
            await future

    async def broadcast(self, inbox: str, command: dict[str, Any]) -> None:
        """Send the command to every partition of the inbox (each owner decides for its own aggregates)."""
        assert self._producer is not None, "start() first"
        topic = self._settings.topic(inbox)
        partitions = await self._producer.partitions_for(topic)
        sent = [await self._producer.send(topic, _body(command), partition=p) for p in sorted(partitions)]
        for future in sent:
            await future


def _body(command: dict[str, Any]) -> bytes:
    return jsoncodec.dumps(command)


K = TypeVar("K")


def _continued(commands: list[tuple[K, dict[str, Any]]], span: tracing.Span | None) -> list[tuple[K, dict[str, Any]]]:
    """The commands carrying the send's span, when they carry a trace and all the same one (several traces:
    each keeps its own, the send span links them)."""
    traces = {command.get("traceparent") for _, command in commands}
    if span is None or len(traces) != 1 or None in traces:
        return commands
    own = tracing.traceparent_of(span)
    return [(key, {**command, "traceparent": own}) for key, command in commands]
