"""The notification service's inbox ``smguard.notification.commands``: queue commands, decided by the owner.

How to run: it starts with the service (``smguard serve notification``). The router
(``entrypoints/streams.py``) sends one ``queue`` command per route of the table, keyed by the route's
idempotency key; the runtime's inbox loop hands each partition this instance owns to ``Inbox`` a batch
at a time, and the batch's offset commits in the same transaction as its decisions. A record that is
not a queue command goes to the dead-letter topic with the reason.
"""

from __future__ import annotations

from aiokafka import ConsumerRecord

from shared.eventstore import InboxRecord
from shared.kafka.deadletters import DeadLetters
from services.notification.application import handlers
from services.notification.application.service import NotificationService
from services.notification.domain.commands import command_of


class Inbox:
    """Decides the inbox records of an owned partition (``runtime.inbox``): queue commands, each key once."""

    def __init__(self, service: NotificationService, dead_letters: DeadLetters) -> None:
        self._service, self._dlq = service, dead_letters

    async def __call__(self, partition: int, records: list[ConsumerRecord]) -> None:
        """Decode the batch (a record that is no command is dead-lettered), decide it, commit its offset with it."""
        commands = []
        for record in records:
            try:
                commands.append(command_of(record.value))
            except (ValueError, KeyError, TypeError) as exc:
                await self._dlq.send(record, f"not a queue command: {exc}")
        last = records[-1]
        await handlers.queue(self._service, commands, inbox=InboxRecord(last.topic, last.partition, last.offset))
