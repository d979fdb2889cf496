"""In-memory fakes of the channels and of name resolution, for handler tests."""

from __future__ import annotations

import ipaddress

from services.notification.application.ports import DeliveryError, OutboundMessage, Sender, Undeliverable
from services.notification.domain.destinations import IPAddress


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


class FixedDns:
    """A resolver answering from ``answers`` (host → addresses, which a test may change: DNS rebinding)."""

    def __init__(self, answers: dict[str, list[str]] | None = None) -> None:
        self.answers = dict(answers or {})

    async def __call__(self, host: str, port: int) -> list[IPAddress]:
        """The addresses the test gave for ``host``; LookupError for any other."""
        if host not in self.answers:
            raise LookupError(f"{host} does not resolve")
        return [ipaddress.ip_address(a) for a in self.answers[host]]
