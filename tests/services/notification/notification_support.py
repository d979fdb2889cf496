"""Helpers of the notification tests: a real SMTP server, a real webhook receiver, a clock, a producer."""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
import uuid
from contextlib import asynccontextmanager
from datetime import timedelta
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import AsyncIterator

from aiosmtpd.controller import Controller

from tests.services.notification.helpers import FIXED_TIME, blocked
from shared import topics
from shared.eventstore import Context
from shared.eventstore.kafka import KafkaEventStore

WEBHOOK_SECRET = "webhook-secret-for-tests"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Mailbox:
    """aiosmtpd handler keeping every received message, parsed."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.messages.append(email.message_from_bytes(envelope.original_content, policy=email.policy.default))
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        """Messages addressed to ``address``."""
        return [m for m in self.messages if address in [a.addr_spec for a in m["To"].addresses]]


class SmtpServer:
    """A real SMTP server on loopback that can be started and stopped on its port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.mailbox = Mailbox()
        self._controller: Controller | None = None

    def start(self) -> None:
        """Listen (again) on the port."""
        self._controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        """Stop listening."""
        if self._controller:
            self._controller.stop()
            self._controller = None


class Clock:
    """The dispatcher's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = FIXED_TIME

    def __call__(self):
        return self.now

    def advance(self, **kwargs: float) -> None:
        """Move time forward."""
        self.now += timedelta(**kwargs)


class WebhookReceiver:
    """A real HTTP server on loopback keeping each POST's raw body and headers."""

    def __init__(self) -> None:
        self.received: list[tuple[bytes, dict[str, str]]] = []
        self.status = 204
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if receiver.status < 300:
                    receiver.received.append((body, dict(self.headers)))
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/smguard"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def payloads(self) -> list[dict]:
        """The JSON bodies received."""
        return [json.loads(body) for body, _ in self.received]


@asynccontextmanager
async def producer(settings, topic_base: str) -> AsyncIterator[KafkaEventStore]:
    """Another service's writer, to put domain events on its topic (a unique transactional id)."""
    store = KafkaEventStore(
        bootstrap=settings.kafka_bootstrap_servers,
        topics={topic_base: settings.topic(topic_base)},
        source="smguard/test-producer",
        transactional_id=f"{settings.topic_prefix}test-producer.{uuid.uuid4().hex[:8]}",
    )
    await store.start()
    try:
        yield store
    finally:
        await store.stop()


async def block(settings, operator_id: str, **kwargs: object):
    """Put a ConnectionBlocked on the connection topic, as the connection service would."""
    event = blocked(operator_id, **kwargs)
    async with producer(settings, topics.CONNECTION_EVENTS) as store:
        await store.append(event.connection_id, [event], context=Context(actor="soc", operator_id=operator_id))
    return event
