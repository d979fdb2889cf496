"""In-memory fakes of the channels, for handler tests."""

from __future__ import annotations

from services.notification.application.ports import DeliveryError, OutboundMessage, Sender


class RecordingSender(Sender):
    """Keeps what it was given; fails while ``failing`` is set."""

    def __init__(self, channel: str = "email") -> None:
        self.channel = channel  # type: ignore[assignment]
        self.sent: list[OutboundMessage] = []
        self.failing: str | None = None

    async def send(self, message: OutboundMessage) -> None:
        """Record the message, or fail with ``failing`` as the reason."""
        if self.failing:
            raise DeliveryError(self.failing)
        self.sent.append(message)
