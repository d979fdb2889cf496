"""What the notification service consumes: every domain topic, into the notify reaction."""

from __future__ import annotations

from shared.envelope import Envelope
from shared.kafka.sinks import MemorySink
from services.notification.application import handlers
from services.notification.application.service import NotificationService


class DomainEvents(MemorySink):
    """Feeds each domain event once to ``handlers.notify`` (a failure parks the event and is retried)."""

    def __init__(self, service: NotificationService) -> None:
        super().__init__()
        self.service = service

    async def handle(self, envelope: Envelope) -> None:
        """Queue what the event calls for."""
        await handlers.notify(self.service, envelope)
