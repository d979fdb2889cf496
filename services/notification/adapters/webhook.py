"""Signed webhooks: the JSON notification POSTed with the one signing rule of ``shared.webhooks``.

``X-Smguard-Timestamp`` and ``X-Smguard-Signature: sha256=<hex>`` over ``<timestamp>.<body>``, so a
receiver that checks the timestamp refuses a captured request replayed later.
"""

from __future__ import annotations

import json

import httpx

from shared.webhooks import signed_headers
from services.notification.application.ports import DeliveryError, OutboundMessage, Sender, Undeliverable


class WebhookSender(Sender):
    """POSTs the notification as JSON to the recipient's webhook URL."""

    channel = "webhook"

    def __init__(self, *, secret: bytes, timeout: float = 10.0) -> None:
        self.secret, self.timeout = secret, timeout

    async def send(self, message: OutboundMessage) -> None:
        """POST, signed; anything but a 2xx answer is a DeliveryError."""
        url = message.recipient.webhook_url
        if not url:
            raise Undeliverable("the recipient has no webhook URL")
        body = json.dumps(message.payload, ensure_ascii=False, sort_keys=True).encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            **signed_headers(self.secret, body),
            "X-Smguard-Notification-Id": message.notification_id,
        }
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                response = await client.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"webhook {url}: {type(exc).__name__}: {exc}") from None
        if not response.is_success:
            raise DeliveryError(f"webhook {url}: HTTP {response.status_code}")
