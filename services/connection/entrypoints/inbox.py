"""The connection service's inbox ``smguard.connection.commands``: the router's commands, decided by the owner.

How to run: it starts with the service (``smguard serve connection``). The runtime's inbox loop hands
each partition this instance owns to ``Inbox`` a batch at a time; the application decides the batch in
order (``application/reactions.py``) and its offset commits in the same transaction as the decisions.
A record that is not a command is dead-lettered with the reason.
"""

from __future__ import annotations

from typing import Awaitable, Callable

from aiokafka import ConsumerRecord
from pydantic import TypeAdapter, ValidationError

from services.connection.application.reactions import decide_batch
from services.connection.application.service import ConnectionService
from services.connection.domain.commands import Reaction
from shared import tracing
from shared.eventstore import InboxRecord, StoreUnavailable
from shared.kafka.deadletters import DeadLetters

COMMAND = TypeAdapter(Reaction)


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
        spans = [_span(last.topic, command) for command in commands] if tracing.ENABLED else []
        if spans:  # what each command decides continues its trace, from this span
            commands = [_continued(command, span) for command, span in zip(commands, spans)]
        try:
            await decide_batch(self._service, partition, commands, last=InboxRecord(last.topic, last.partition, last.offset))
        except BaseException as exc:
            for span in spans:
                tracing.end(span, exc)
            raise
        for span in spans:
            tracing.end(span)


def _span(topic: str, command: Reaction | None) -> tracing.Span | None:
    """The span of deciding one command: a child of the span that sent it."""
    if command is None:
        return None
    return tracing.start_process(
        topic, parent=command.traceparent,
        attributes={"smguard.command": type(command).__name__, "smguard.incident_id": command.incident_id},
    )  # fmt: skip


def _continued(command: Reaction | None, span: tracing.Span | None) -> Reaction | None:
    if command is None or span is None:
        return command
    return command.model_copy(update={"traceparent": tracing.traceparent_of(span)})
