"""Signed webhooks: the JSON notification POSTed with the one signing rule of ``shared.webhooks``.

Each recipient has its own secret (``NotificationService.webhook_secret``), named by
``X-Smguard-Key-Id``. A contact's URL is checked against the destination policy before every
delivery and the request goes to the address checked (the host name stays in ``Host`` and in TLS
SNI), so DNS rebinding cannot move it into the utility's network. The utility desk's own URL is
configuration, not checked. What a failure tells the operator is a category; the detail is logged.
"""

from __future__ import annotations

import json
import logging
from typing import Callable

import httpx

from shared import tracing
from shared.events.notification import Recipient
from shared.webhooks import failure_category, signed_headers
from services.notification.application.ports import DeliveryError, Destinations, OutboundMessage, Sender, Undeliverable
from services.notification.domain.destinations import DestinationRefused, host_of

log = logging.getLogger(__name__)


class WebhookSender(Sender):
    """POSTs the notification as JSON to the recipient's webhook URL, signed with the recipient's secret."""

    channel = "webhook"

    def __init__(self, *, secret_of: Callable[[Recipient], bytes], destinations: Destinations, timeout: float = 10.0) -> None:
        self.secret_of, self.destinations, self.timeout = secret_of, destinations, timeout

    async def send(self, message: OutboundMessage) -> None:
        """POST, signed; anything but a 2xx answer is a DeliveryError (a refused destination: Undeliverable)."""
        url = message.recipient.webhook_url
        if not url:
            raise Undeliverable("the recipient has no webhook URL")
        body = json.dumps(message.payload, ensure_ascii=False, sort_keys=True).encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            **signed_headers(self.secret_of(message.recipient), body),
            "X-Smguard-Notification-Id": message.notification_id,
        }
        target, extensions = url, {}
        if message.recipient.kind != "utility_desk":
            target, extensions = await self._pinned(message, url, headers)
        span = tracing.start_post(
            "notification webhook", url,
            attributes={"smguard.notification_id": message.notification_id, "smguard.recipient.kind": message.recipient.kind},
        ) if tracing.ENABLED else None  # fmt: skip
        try:
            async with httpx.AsyncClient(timeout=self.timeout, follow_redirects=False) as client:
                response = await client.post(target, content=body, headers=headers, extensions=extensions)
        except httpx.HTTPError as exc:
            tracing.end(span, exc)
            log.warning("webhook delivery failed", extra={"notification_id": message.notification_id, "error": repr(exc)})
            raise DeliveryError(failure_category(exc)) from None
        tracing.answered(span, response.status_code)
        tracing.end(span)
        if not response.is_success:
            raise DeliveryError(f"HTTP {response.status_code}")

    async def _pinned(self, message: OutboundMessage, url: str, headers: dict[str, str]) -> tuple[httpx.URL, dict]:
        """The URL with its host replaced by a checked address; ``Host`` (and SNI for https) keep the name."""
        try:
            addresses = await self.destinations.vet(url)
        except DestinationRefused:
            log.warning("webhook destination refused", extra={"notification_id": message.notification_id})
            raise Undeliverable("destination refused") from None
        except LookupError as exc:
            log.warning("webhook host not found", extra={"notification_id": message.notification_id, "error": str(exc)})
            raise DeliveryError("host not found") from None
        original = httpx.URL(url)
        host, _ = host_of(url)
        headers["Host"] = original.netloc.decode("ascii")
        extensions = {"sni_hostname": host} if original.scheme == "https" else {}
        return original.copy_with(host=str(addresses[0])), extensions
