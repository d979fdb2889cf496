"""Ports of the notification service: the channels a message goes out on, and the texts it says."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any

from shared.events.notification import Channel, Recipient
from services.notification.domain.destinations import IPAddress


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One notification as a channel sends it."""

    notification_id: str
    recipient: Recipient
    subject: str
    body: str
    payload: dict[str, Any] = field(default_factory=dict)


class DeliveryError(Exception):
    """The channel did not accept the message (the reason is kept as the notification's last error)."""


class Undeliverable(DeliveryError):
    """A failure that no retry can mend (e.g. the recipient has no address): the attempt is final."""


class Sender(abc.ABC):
    """Sends a message over one channel; raises DeliveryError when it was not accepted."""

    channel: Channel

    @abc.abstractmethod
    async def send(self, message: OutboundMessage) -> None:
        """Hand the message to the channel."""


class Texts(abc.ABC):
    """Renders the subject and body of messages from a template context."""

    @abc.abstractmethod
    def message(self, context: dict[str, Any]) -> tuple[str, str]:
        """(subject, body) of a notification."""

    @abc.abstractmethod
    def head(self, context: dict[str, Any]) -> tuple[str, str]:
        """(subject, body up to the member list) of a coalesced notice."""

    @abc.abstractmethod
    def coalesced(self, context: dict[str, Any]) -> tuple[str, str]:
        """(subject, body) of a coalesced notice: its head, the members it lists, how many in all, the footer."""

    @abc.abstractmethod
    def escalation(self, context: dict[str, Any]) -> tuple[str, str]:
        """(subject, body) of the message to a fallback contact."""


class Destinations(abc.ABC):
    """Where a webhook URL's host leads, judged by the destination policy (asked again at every delivery)."""

    @abc.abstractmethod
    async def vet(self, url: str) -> list[IPAddress]:
        """The addresses the URL's host has now, all permitted; DestinationRefused when one is not,
        LookupError when the host does not resolve."""
