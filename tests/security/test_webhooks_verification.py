"""The verification snippet of docs/webhooks.md, run as a receiver would run it, against requests smguard delivered."""

from __future__ import annotations

import re
import time

from shared.config import REPO_ROOT
from shared.events.notification import Recipient
from shared.webhooks import TIMESTAMP_HEADER, TOLERANCE_SECONDS, recipient_secret, signed_headers
from services.connection.adapters.webhook import WebhookEnforcement
from services.connection.application.ports import EnforcementCall
from services.notification.adapters.destinations import ResolvingDestinations
from services.notification.adapters.webhook import WebhookSender
from services.notification.application.ports import OutboundMessage
from services.notification.domain.destinations import DestinationPolicy, parse_networks
from services.notification.domain.recipients import webhook_identity
from tests.factories import LoopbackServer

MASTER = b"master-key-of-the-verification-test-0123"


def documented_verifier():
    """``verify_smguard_request`` exactly as docs/webhooks.md shows it."""
    text = (REPO_ROOT / "docs" / "webhooks.md").read_text(encoding="utf-8")
    (snippet,) = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    scope: dict = {}
    exec(compile(snippet, "docs/webhooks.md", "exec"), scope)  # noqa: S102 - the documented code is what is tested
    return scope["verify_smguard_request"]


async def test_the_documented_snippet_accepts_a_delivered_notification_and_refuses_tampering_and_replay():
    verify = documented_verifier()
    server = LoopbackServer(lambda body, headers: 204)
    try:
        to = Recipient(kind="security_incident", operator_id="op-doc", name="担当", webhook_url=server.url)
        secret = recipient_secret(MASTER, webhook_identity(to)).decode()
        sender = WebhookSender(
            secret_of=lambda r: recipient_secret(MASTER, webhook_identity(r)),
            destinations=ResolvingDestinations(DestinationPolicy(allowed=parse_networks("127.0.0.0/8"))),
        )
        await sender.send(OutboundMessage("n-doc", to, "件名", "本文", {"id": "n-doc", "text": "接続遮断 / blocked"}))
        ((body, headers, _),) = server.received
    finally:
        server.stop()
    assert verify(secret, headers, body)
    assert not verify(secret, headers, body.replace("遮断".encode(), "許可".encode()))
    assert not verify(secret + "x", headers, body)
    signed_at = int(headers[TIMESTAMP_HEADER])
    assert not verify(secret, headers, body, now=signed_at + TOLERANCE_SECONDS + 1)
    assert not verify(secret, headers, body, now=signed_at - TOLERANCE_SECONDS - 1)


async def test_the_same_snippet_checks_an_enforcement_request():
    verify = documented_verifier()
    secret = "enforcement-secret-of-the-doc-test"
    server = LoopbackServer(lambda body, headers: 200)
    try:
        port = WebhookEnforcement(url=server.url, key=secret.encode(), timeout=5)
        await port.send(EnforcementCall("req-doc", "block", "c-1", "op-1", ("SM-1",), "inc-1"))
        await port.close()
        ((body, headers, _),) = server.received
    finally:
        server.stop()
    assert verify(secret, headers, body) and headers["X-Smguard-Key-Id"].startswith("whk_")
    assert b'"id": "req-doc"' in body


def test_a_request_signed_an_hour_ago_is_refused_by_the_receiver():
    verify = documented_verifier()
    body = b'{"id": "n-old"}'
    old = signed_headers(b"some-recipient-secret", body, now=time.time() - 3600)
    assert not verify("some-recipient-secret", old, body)
