"""The webhook channel signs as every smguard webhook does: HMAC-SHA256 over ``<timestamp>.<body>``.

It used to sign the body alone under the same header name, so a captured request could be replayed
at any later time; a receiver now checks the signed timestamp and refuses a stale one.
"""

from __future__ import annotations

import hashlib
import hmac
import time

import httpx
import pytest

from shared.events.notification import Recipient
from shared.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, TOLERANCE_SECONDS, verify
from services.notification.adapters.webhook import WebhookSender
from services.notification.application.ports import DeliveryError, OutboundMessage, Undeliverable
from tests.factories import LoopbackServer
from tests.services.notification.helpers import WEBHOOK_SECRET

KEY = WEBHOOK_SECRET.encode()
TO = Recipient(kind="security_incident", operator_id="op-1", name="担当", email="si@op.example")


def message(url: str | None) -> OutboundMessage:
    recipient = TO.model_copy(update={"webhook_url": url})
    return OutboundMessage("n-1", recipient, "件名", "本文", {"notification_id": "n-1", "text": "接続遮断"})


def header(headers: dict[str, str], name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name.lower()), None)


class Receiver:
    """A receiver that checks signatures against its own clock (None: the real time)."""

    def __init__(self) -> None:
        self.now: float | None = None
        self.server = LoopbackServer(self.respond)

    def respond(self, body: bytes, headers: dict[str, str]) -> int:
        ok = verify(KEY, body, timestamp=header(headers, TIMESTAMP_HEADER), signature=header(headers, SIGNATURE_HEADER), now=self.now)
        return 204 if ok else 401


@pytest.fixture
def receiver():
    found = Receiver()
    yield found
    found.server.stop()


async def test_the_request_carries_a_timestamp_and_a_signature_over_both(receiver):
    await WebhookSender(secret=KEY).send(message(receiver.server.url))
    ((body, headers, status),) = receiver.server.received
    assert status == 204 and receiver.server.payloads() == [{"notification_id": "n-1", "text": "接続遮断"}]
    assert abs(int(header(headers, TIMESTAMP_HEADER)) - time.time()) < TOLERANCE_SECONDS
    assert header(headers, "X-Smguard-Notification-Id") == "n-1"


async def test_a_receiver_refuses_the_same_request_replayed_later(receiver):
    await WebhookSender(secret=KEY).send(message(receiver.server.url))
    ((body, headers, _),) = receiver.server.received
    receiver.now = int(header(headers, TIMESTAMP_HEADER)) + TOLERANCE_SECONDS + 1
    async with httpx.AsyncClient() as client:
        replayed = await client.post(receiver.server.url, content=body, headers=headers)
    assert replayed.status_code == 401


async def test_a_signature_of_the_body_alone_no_longer_verifies(receiver):
    await WebhookSender(secret=KEY).send(message(receiver.server.url))
    ((body, headers, _),) = receiver.server.received
    body_only = "sha256=" + hmac.new(KEY, body, hashlib.sha256).hexdigest()
    assert header(headers, SIGNATURE_HEADER) != body_only
    assert not verify(KEY, body, timestamp=header(headers, TIMESTAMP_HEADER), signature=body_only)
    assert not verify(b"another-secret", body, timestamp=header(headers, TIMESTAMP_HEADER), signature=header(headers, SIGNATURE_HEADER))


async def test_an_answer_other_than_2xx_is_a_failed_attempt_and_no_url_is_undeliverable(receiver):
    receiver.server.respond = lambda body, headers: 500
    with pytest.raises(DeliveryError, match="HTTP 500"):
        await WebhookSender(secret=KEY).send(message(receiver.server.url))
    with pytest.raises(Undeliverable):
        await WebhookSender(secret=KEY).send(message(None))
