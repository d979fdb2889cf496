"""The enforcement webhook: an HMAC-SHA256-signed JSON POST to the utility's network access control.

Headers: ``X-Smguard-Request-Id`` (also ``Idempotency-Key``; the peer must treat a repeat as the
same request — the body's ``id`` is the same id), and the signature of ``shared.webhooks``
(``X-Smguard-Timestamp``, ``X-Smguard-Key-Id``, ``X-Smguard-Signature: sha256=<hex>`` over
``<timestamp>.<body>``). Any 2xx is the acknowledgement. A failure is recorded (and shown) as a
category; the detail goes to the log.

The **bulk** form (``SMGUARD_ENFORCEMENT_MODE=bulk``, for peers that take it) carries many requests
in one POST: ``{"id": <batch id>, "requests": [<request body>, …]}``, signed the same way, with the
batch id in ``X-Smguard-Batch-Id``. The peer answers 2xx with ``{"results": [{"request_id", "status":
"enforced" | "failed", "error"?}, …]}``: each request is acknowledged on its own; one the answer does
not name, or names as failed, is retried alone of the others. Requests that the worker sends at
nearly the same moment (within ``linger``) share a POST, up to ``max_requests`` each.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from dataclasses import dataclass

import httpx

from services.connection.application.ports import (
    EnforcementCall,
    EnforcementError,
    EnforcementNotConfigured,
    EnforcementPort,
)
from shared import tracing
from shared.webhooks import failure_category, signed_headers

log = logging.getLogger(__name__)


def document_of(call: EnforcementCall) -> dict[str, object]:
    """What a request says (the single form's body; one item of the bulk form's ``requests``)."""
    return {
        "id": call.request_id,
        "request_id": call.request_id,
        "action": call.action,
        "connection_id": call.connection_id,
        "operator_id": call.operator_id,
        "smart_meter_ids": list(call.smart_meter_ids),
        "incident_id": call.incident_id,
    }


def body_of(call: EnforcementCall) -> bytes:
    """The JSON body of a request."""
    return json.dumps(document_of(call), ensure_ascii=False, sort_keys=True).encode()


def bulk_body_of(batch_id: str, calls: list[EnforcementCall]) -> bytes:
    """The JSON body of a bulk request."""
    return json.dumps(
        {"id": batch_id, "requests": [document_of(call) for call in calls]}, ensure_ascii=False, sort_keys=True
    ).encode()


def _about(call: EnforcementCall) -> dict[str, str]:
    """A request's span attributes: its ids (never the body)."""
    return {"smguard.request_id": call.request_id, "smguard.action": call.action, "smguard.connection_id": call.connection_id}


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
        span = tracing.start_post("enforcement", self._url, parent=call.traceparent, attributes=_about(call)) if tracing.ENABLED else None
        try:
            async with self._gate:
                response = await self._client.post(self._url, content=body, headers={**headers, **tracing.headers(span)})
        except httpx.HTTPError as exc:
            tracing.end(span, exc)
            log.warning("enforcement request failed", extra={"request_id": call.request_id, "error": repr(exc)})
            raise EnforcementError(failure_category(exc)) from None
        tracing.answered(span, response.status_code)
        tracing.end(span)
        if not response.is_success:
            raise EnforcementError(f"HTTP {response.status_code} from the enforcement peer")

    async def close(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()


@dataclass
class _Waiting:
    call: EnforcementCall
    answer: "asyncio.Future[str | None]"  # None: acknowledged; else why not


class BulkWebhookEnforcement(EnforcementPort):
    """Posts the requests sent within ``linger`` seconds of each other as one bulk request (at most
    ``max_requests`` a POST, ``in_flight`` POSTs at once); each caller hears its own request's outcome."""

    def __init__(
        self, *, url: str, key: bytes, timeout: float, max_requests: int = 500, linger: float = 0.002, in_flight: int = 4
    ) -> None:
        self._url, self._key, self._max, self._linger = url, key, max_requests, linger
        self._client = httpx.AsyncClient(timeout=timeout)
        self._gate = asyncio.Semaphore(in_flight)
        self._waiting: list[_Waiting] = []
        self._flush: asyncio.TimerHandle | None = None
        self._posts: set[asyncio.Task[None]] = set()

    async def send(self, call: EnforcementCall) -> None:
        """Queue the request for the next bulk POST; EnforcementError unless the peer acknowledges it."""
        loop = asyncio.get_running_loop()
        waiting = _Waiting(call, loop.create_future())
        self._waiting.append(waiting)
        if len(self._waiting) >= self._max:
            self._post_now()
        elif self._flush is None:
            self._flush = loop.call_later(self._linger, self._post_now)
        why_not = await asyncio.shield(waiting.answer)
        if why_not is not None:
            raise EnforcementError(why_not)

    def _post_now(self) -> None:
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        batch, self._waiting = self._waiting[: self._max], self._waiting[self._max :]
        if self._waiting:  # more than one POST's worth arrived at once
            self._flush = asyncio.get_running_loop().call_soon(self._post_now)  # type: ignore[assignment]
        if batch:
            task = asyncio.create_task(self._post(batch), name="enforcement-bulk-post")
            self._posts.add(task)
            task.add_done_callback(self._posts.discard)

    async def _post(self, batch: list[_Waiting]) -> None:
        outcomes: dict[str, str | None] = {}
        failed_all: str | None = None
        try:
            outcomes = await self._exchange([w.call for w in batch])
        except EnforcementError as exc:
            failed_all = str(exc)
        except Exception as exc:  # never leave a caller waiting
            log.exception("bulk enforcement request failed unexpectedly")
            failed_all = f"unexpected error: {type(exc).__name__}"
        for waiting in batch:
            if waiting.answer.done():
                continue
            if failed_all is not None:
                waiting.answer.set_result(failed_all)
            else:
                waiting.answer.set_result(outcomes.get(waiting.call.request_id, "not acknowledged in the bulk answer"))

    async def _exchange(self, calls: list[EnforcementCall]) -> dict[str, str | None]:
        """One bulk POST; request id → None (acknowledged) or why not."""
        batch_id = f"batch-{uuid.uuid4().hex}"
        body = bulk_body_of(batch_id, calls)
        headers = {"Content-Type": "application/json", "X-Smguard-Batch-Id": batch_id, "Idempotency-Key": batch_id,
                   **signed_headers(self._key, body)}  # fmt: skip
        span = tracing.start_post(
            "enforcement", self._url, links=[call.traceparent for call in calls],
            attributes={"smguard.batch_id": batch_id, "smguard.requests": len(calls)},
        ) if tracing.ENABLED else None  # fmt: skip
        try:
            async with self._gate:
                response = await self._client.post(self._url, content=body, headers={**headers, **tracing.headers(span)})
        except httpx.HTTPError as exc:
            tracing.end(span, exc)
            log.warning("bulk enforcement request failed", extra={"batch_id": batch_id, "requests": len(calls), "error": repr(exc)})
            raise EnforcementError(failure_category(exc)) from None
        tracing.answered(span, response.status_code)
        tracing.end(span)
        if not response.is_success:
            raise EnforcementError(f"HTTP {response.status_code} from the enforcement peer")
        try:
            results = response.json()["results"]
            named = {str(r["request_id"]): r for r in results if isinstance(r, dict) and "request_id" in r}
        except (ValueError, KeyError, TypeError):
            raise EnforcementError("the enforcement peer's bulk answer has no readable results") from None
        outcomes: dict[str, str | None] = {}
        for call in calls:
            result = named.get(call.request_id)
            if result is None:
                continue
            if result.get("status") == "enforced":
                outcomes[call.request_id] = None
            else:  # the peer's own words stay in the log; the record keeps a category
                log.warning("enforcement peer refused one request of a bulk request",
                            extra={"batch_id": batch_id, "request_id": call.request_id, "error": str(result.get("error"))[:200]})  # fmt: skip
                outcomes[call.request_id] = "refused by the enforcement peer"
        return outcomes

    async def close(self) -> None:
        """Post what waits, then close the HTTP client."""
        if self._waiting:
            self._post_now()
        if self._posts:
            await asyncio.gather(*list(self._posts), return_exceptions=True)
        await self._client.aclose()


class UnconfiguredEnforcement(EnforcementPort):
    """No peer configured: says so, and never pretends a request was enforced."""

    async def send(self, call: EnforcementCall) -> None:
        """Always refuses."""
        raise EnforcementNotConfigured("SMGUARD_ENFORCEMENT_URL is not set")
