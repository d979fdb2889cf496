"""In-memory fakes of the channels, for handler tests."""

from __future__ import annotations

from services.notification.application.ports import DeliveryError, OutboundMessage, Sender, Undeliverable


class RecordingSender(Sender):
    """Keeps what it was given; fails while ``failing`` is set."""

    def __init__(self, channel: str = "email") -> None:
        self.channel = channel  # type: ignore[assignment]
        self.sent: list[OutboundMessage] = []
        self.failing: str | None = None

    async def send(self, message: OutboundMessage) -> None:
        """Record the message, or fail with ``failing`` as the reason."""
        address = message.recipient.email if self.channel == "email" else message.recipient.webhook_url
        if not address:
            raise Undeliverable(f"the recipient has no {self.channel} address")
        if self.failing:
            raise DeliveryError(self.failing)
        self.sent.append(message)
