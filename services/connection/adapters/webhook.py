"""The enforcement webhook: an HMAC-SHA256-signed JSON POST to the utility's network access control.

Headers: ``X-Smguard-Request-Id`` (also ``Idempotency-Key``; the peer must treat a repeat as the
same request — the body's ``id`` is the same id), and the signature of ``shared.webhooks``
(``X-Smguard-Timestamp``, ``X-Smguard-Key-Id``, ``X-Smguard-Signature: sha256=<hex>`` over
``<timestamp>.<body>``). Any 2xx is the acknowledgement. A failure is recorded (and shown) as a
category; the detail goes to the log.
"""

from __future__ import annotations

import asyncio
import json
import logging

import httpx

from services.connection.application.ports import (
    EnforcementCall,
    EnforcementError,
    EnforcementNotConfigured,
    EnforcementPort,
)
from shared.webhooks import failure_category, signed_headers

log = logging.getLogger(__name__)


def body_of(call: EnforcementCall) -> bytes:
    """The JSON body of a request."""
    return json.dumps(
        {
            "id": call.request_id,
            "request_id": call.request_id,
            "action": call.action,
            "connection_id": call.connection_id,
            "operator_id": call.operator_id,
            "smart_meter_ids": list(call.smart_meter_ids),
            "incident_id": call.incident_id,
        },
        ensure_ascii=False,
        sort_keys=True,
    ).encode()


class WebhookEnforcement(EnforcementPort):
    """Posts each request to ``url``; the caller retries."""

    def __init__(self, *, url: str, key: bytes, timeout: float, in_flight: int = 16) -> None:
        self._url, self._key = url, key
        self._client = httpx.AsyncClient(timeout=timeout)
        # A burst of blocks queues here, not in the HTTP pool, whose per-request cost grows with its queue.
        self._gate = asyncio.Semaphore(in_flight)

    async def send(self, call: EnforcementCall) -> None:
        """POST, signed; EnforcementError unless the peer answers 2xx."""
        body = body_of(call)
        headers = {
            "Content-Type": "application/json",
            "X-Smguard-Request-Id": call.request_id,
            "Idempotency-Key": call.request_id,
            **signed_headers(self._key, body),
        }
        try:
            async with self._gate:
                response = await self._client.post(self._url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            log.warning("enforcement request failed", extra={"request_id": call.request_id, "error": repr(exc)})
            raise EnforcementError(failure_category(exc)) from None
        if not response.is_success:
            raise EnforcementError(f"HTTP {response.status_code} from the enforcement peer")

    async def close(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()


class UnconfiguredEnforcement(EnforcementPort):
    """No peer configured: says so, and never pretends a request was enforced."""

    async def send(self, call: EnforcementCall) -> None:
        """Always refuses."""
        raise EnforcementNotConfigured("SMGUARD_ENFORCEMENT_URL is not set")
