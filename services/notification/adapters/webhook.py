"""Signed webhooks: an HMAC-SHA256 over the raw JSON body in ``X-Smguard-Signature: sha256=<hex>``."""

from __future__ import annotations

import hashlib
import hmac
import json

import httpx

from services.notification.application.ports import DeliveryError, OutboundMessage, Sender, Undeliverable

SIGNATURE_HEADER = "X-Smguard-Signature"


def sign(secret: str, body: bytes) -> str:
    """The signature header value for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str | None) -> bool:
    """Whether ``header`` is the signature of ``body`` (constant-time comparison)."""
    return bool(header) and hmac.compare_digest(sign(secret, body), header)


class WebhookSender(Sender):
    """POSTs the notification as JSON to the recipient's webhook URL."""

    channel = "webhook"

    def __init__(self, *, secret: str, timeout: float = 10.0) -> None:
        self.secret, self.timeout = secret, timeout

    async def send(self, message: OutboundMessage) -> None:
        """POST, signed; anything but a 2xx answer is a DeliveryError."""
        url = message.recipient.webhook_url
        if not url:
            raise Undeliverable("the recipient has no webhook URL")
        body = json.dumps(message.payload, ensure_ascii=False, sort_keys=True).encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            SIGNATURE_HEADER: sign(self.secret, body),
            "X-Smguard-Notification-Id": message.notification_id,
        }
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                response = await client.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"webhook {url}: {type(exc).__name__}: {exc}") from None
        if not response.is_success:
            raise DeliveryError(f"webhook {url}: HTTP {response.status_code}")
