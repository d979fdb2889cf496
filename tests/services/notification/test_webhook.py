"""The webhook channel: one signing rule (HMAC-SHA256 over ``<timestamp>.<body>``), a secret per recipient,
the destination checked again at delivery, and failures told as a category without internal detail."""

from __future__ import annotations

import hashlib
import hmac
import time

import httpx
import pytest

from shared.events.notification import Recipient
from shared.webhooks import KEY_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, TOLERANCE_SECONDS, key_id, recipient_secret, verify
from services.notification.adapters.destinations import ResolvingDestinations
from services.notification.adapters.memory import FixedDns
from services.notification.adapters.webhook import WebhookSender
from services.notification.application.ports import DeliveryError, OutboundMessage, Undeliverable
from services.notification.domain.destinations import DestinationPolicy, parse_networks
from services.notification.domain.recipients import webhook_identity
from tests.factories import LoopbackServer, free_port
from tests.services.notification.helpers import LOOPBACK, WEBHOOK_SECRET

MASTER = WEBHOOK_SECRET.encode()
TO = Recipient(kind="security_incident", operator_id="op-1", name="担当", email="si@op.example")
DEV = DestinationPolicy(allowed=parse_networks(LOOPBACK))


def message(url: str | None, recipient: Recipient = TO) -> OutboundMessage:
    recipient = recipient.model_copy(update={"webhook_url": url})
    return OutboundMessage("n-1", recipient, "件名", "本文", {"id": "n-1", "notification_id": "n-1", "text": "接続遮断"})


def secret_of(recipient: Recipient) -> bytes:
    return recipient_secret(MASTER, webhook_identity(recipient))


def sender(policy: DestinationPolicy = DEV, dns: FixedDns | None = None) -> WebhookSender:
    return WebhookSender(secret_of=secret_of, destinations=ResolvingDestinations(policy, resolve=dns or FixedDns()), timeout=5)


def header(headers: dict[str, str], name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name.lower()), None)


class Receiver:
    """A receiver that checks signatures with its own secret against its own clock (None: the real time)."""

    def __init__(self) -> None:
        self.now: float | None = None
        self.server = LoopbackServer(self.respond)
        self.key = secret_of(TO.model_copy(update={"webhook_url": self.server.url}))

    def respond(self, body: bytes, headers: dict[str, str]) -> int:
        ok = verify(self.key, body, timestamp=header(headers, TIMESTAMP_HEADER), signature=header(headers, SIGNATURE_HEADER), now=self.now)
        return 204 if ok else 401


@pytest.fixture
def receiver():
    found = Receiver()
    yield found
    found.server.stop()


async def test_the_request_carries_a_timestamp_a_key_id_and_a_signature_with_the_recipients_secret(receiver):
    await sender().send(message(receiver.server.url))
    ((body, headers, status),) = receiver.server.received
    assert status == 204 and receiver.server.payloads() == [{"id": "n-1", "notification_id": "n-1", "text": "接続遮断"}]
    assert abs(int(header(headers, TIMESTAMP_HEADER)) - time.time()) < TOLERANCE_SECONDS
    assert header(headers, KEY_ID_HEADER) == key_id(receiver.key)
    assert not verify(MASTER, body, timestamp=header(headers, TIMESTAMP_HEADER), signature=header(headers, SIGNATURE_HEADER))


def test_each_recipient_and_url_has_its_own_stable_secret():
    a = secret_of(TO.model_copy(update={"webhook_url": "https://a.example/hook"}))
    assert a == secret_of(TO.model_copy(update={"webhook_url": "https://a.example/hook"}))
    others = [
        secret_of(TO.model_copy(update={"webhook_url": "https://b.example/hook"})),
        secret_of(TO.model_copy(update={"webhook_url": "https://a.example/hook", "operator_id": "op-2"})),
        secret_of(TO.model_copy(update={"webhook_url": "https://a.example/hook", "kind": "applicant"})),
        recipient_secret(b"another-master-key-0123456789", webhook_identity(TO.model_copy(update={"webhook_url": "https://a.example/hook"}))),
    ]
    assert a not in others and len(set(others)) == len(others)


async def test_a_receiver_refuses_the_same_request_replayed_later(receiver):
    await sender().send(message(receiver.server.url))
    ((body, headers, _),) = receiver.server.received
    receiver.now = int(header(headers, TIMESTAMP_HEADER)) + TOLERANCE_SECONDS + 1
    async with httpx.AsyncClient() as client:
        replayed = await client.post(receiver.server.url, content=body, headers=headers)
    assert replayed.status_code == 401


async def test_a_signature_of_the_body_alone_does_not_verify(receiver):
    await sender().send(message(receiver.server.url))
    ((body, headers, _),) = receiver.server.received
    body_only = "sha256=" + hmac.new(receiver.key, body, hashlib.sha256).hexdigest()
    assert header(headers, SIGNATURE_HEADER) != body_only
    assert not verify(receiver.key, body, timestamp=header(headers, TIMESTAMP_HEADER), signature=body_only)


async def test_failures_are_told_as_a_category_without_the_address(receiver):
    receiver.server.respond = lambda body, headers: 500
    with pytest.raises(DeliveryError, match="^HTTP 500$"):
        await sender().send(message(receiver.server.url))
    closed = f"http://127.0.0.1:{free_port()}/hook"
    with pytest.raises(DeliveryError) as refused:
        await sender().send(message(closed))
    assert str(refused.value) == "connection refused"
    with pytest.raises(DeliveryError) as unknown:
        await sender().send(message("https://nowhere.invalid/hook"))
    assert str(unknown.value) == "host not found"
    with pytest.raises(Undeliverable):
        await sender().send(message(None))


async def test_a_name_that_now_resolves_to_a_private_address_is_not_called(receiver):
    port = receiver.server.url.split(":")[2].split("/")[0]
    dns = FixedDns({"hooks.op.example": ["93.184.216.34"]})
    url = f"http://hooks.op.example:{port}/hook"
    dns.answers["hooks.op.example"] = ["127.0.0.1"]  # rebound after registration
    with pytest.raises(Undeliverable, match="^destination refused$"):
        await sender(DestinationPolicy(), dns).send(message(url))
    dns.answers["hooks.op.example"] = ["93.184.216.34", "10.0.0.7"]  # one private answer among public ones
    with pytest.raises(Undeliverable, match="^destination refused$"):
        await sender(DestinationPolicy(), dns).send(message(url))
    assert receiver.server.received == []


async def test_the_request_goes_to_the_checked_address_with_the_name_as_host():
    server = LoopbackServer(lambda body, headers: 204)
    try:
        port = server.url.split(":")[2].split("/")[0]
        dns = FixedDns({"hooks.op.example": ["127.0.0.1"]})
        await sender(DEV, dns).send(message(f"http://hooks.op.example:{port}/hook"))
        ((_, headers, status),) = server.received
        assert status == 204 and header(headers, "Host") == f"hooks.op.example:{port}"
    finally:
        server.stop()


async def test_the_utility_desks_configured_url_is_not_held_to_the_contact_rule():
    server = LoopbackServer(lambda body, headers: 204)
    try:
        desk = Recipient(kind="utility_desk", name="desk", email="desk@utility.example")
        await sender(DestinationPolicy()).send(message(server.url, desk))
        assert len(server.received) == 1
    finally:
        server.stop()
