"""What tests of every service share: ids, settings, tokens, event builders, another service's writer,
a clock the test moves, loopback servers, serving an app, and polling with a deadline."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import socket
import threading
import time
import uuid
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable, Iterable

import httpx
from aiokafka.errors import KafkaError
from fastapi import FastAPI
from pydantic import SecretStr

from shared.kafka import clients
from shared.auth import mint_token
from shared.config import Settings
from shared.envelope import Envelope, encode, kafka_headers
from shared.events import DomainEvent
from shared.events.connection import ConnectionBlocked, ConnectionRegistered, SealedSecrets
from shared.events.incident import IncidentOpened, ReportOverdue
from shared.events.operator import OperatorOnboarded
from shared.events.values import Actor
from shared.kafka.access import SOC_CONSUMER, add_user
from shared.kafka.admin import ensure_topics

TEST_SECRET = "test-signing-key-not-for-production-0123456789"
DETECTED = datetime(2026, 4, 1, 9, 0, tzinfo=timezone.utc)
FIXED_TIME = datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)
SOC = Actor(kind="person", id="soc-analyst-1", role="utility_soc")


# --------------------------------------------------------------------------- ids, settings, tokens


def uid(prefix: str) -> str:
    """An id no other test uses, with a readable prefix."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def make_settings(bootstrap: str, prefix: str, data_dir: Path, **overrides: Any) -> Settings:
    """Settings for one test: its own topic prefix and data folder, a fixed signing key."""
    values: dict[str, Any] = {
        "kafka_bootstrap_servers": bootstrap,
        "topic_prefix": prefix,
        "topic_partitions": 2,
        "data_dir": data_dir,
        "jwt_secret": TEST_SECRET,
        "parked_retry_seconds": 0.2,
    }
    values.update(overrides)
    return Settings(**values)


def bearer(settings: Settings, role: str, operator_id: str | None = None, sub: str | None = None) -> dict[str, str]:
    """An Authorization header for a role."""
    return {"Authorization": f"Bearer {mint_token(settings, role=role, operator_id=operator_id, sub=sub)}"}


def delete_topics(bootstrap: str, prefix: str) -> None:
    """Delete every topic whose name starts with ``prefix`` (a test's own), waiting for the broker to answer."""

    async def delete() -> None:
        admin = clients.admin(Settings(kafka_bootstrap_servers=bootstrap), request_timeout_ms=30000)
        await admin.start()
        try:
            names = [name for name in await admin.list_topics() if name.startswith(prefix)]
            if names:
                await admin.delete_topics(names)
        finally:
            await admin.close()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # its own loop: callable from any fixture
        pool.submit(asyncio.run, delete()).result()


# --------------------------------------------------------------------------- events


def envelope(event: DomainEvent, subject: str, *, sequence: int = 1, **attributes: Any) -> Envelope:
    """An envelope as another service would have written it."""
    return Envelope(event=event, subject=subject, sequence=sequence, source="smguard/test", **attributes)


def incident_opened(incident_id: str, operator_id: str | None = None, **fields: Any) -> IncidentOpened:
    """An incident the utility opened (for ``operator_id``, when given)."""
    values: dict[str, Any] = {
        "incident_id": incident_id,
        "operator_id": operator_id,
        "operator_ids": [operator_id] if operator_id else [],
        "category": "unauthorized_access",
        "severity": "high",
        "title": "不正アクセスの疑い",
        "detected_at": DETECTED,
        "opened_by": "utility",
    }
    return IncidentOpened(**(values | fields))


def report_overdue(incident_id: str, part: str = "initial") -> ReportOverdue:
    """A report part past its deadline."""
    return ReportOverdue(incident_id=incident_id, part=part, due_at=DETECTED + timedelta(days=1))


def connection_registered(connection_id: str, operator_id: str, **fields: Any) -> ConnectionRegistered:
    """A special meter connection as the connection service publishes it (secrets sealed)."""
    values: dict[str, Any] = {
        "connection_id": connection_id,
        "operator_id": operator_id,
        "kind": "special_meter",
        "maker": "東海計器",
        "model": "TK-100",
        "firmware": "2.1.0",
        "secrets": SealedSecrets(ciphertext="x", fingerprint="f", hints={"auth_id": "AU…78"}),
    }
    return ConnectionRegistered(**(values | fields))


def connection_blocked(connection_id: str, operator_id: str, incident_id: str, **fields: Any) -> ConnectionBlocked:
    """A connection the utility blocked for an incident."""
    values: dict[str, Any] = {
        "connection_id": connection_id,
        "operator_id": operator_id,
        "reason": "unauthorized_access",
        "incident_id": incident_id,
        "decided_by": SOC,
        "request_id": uid("req"),
    }
    return ConnectionBlocked(**(values | fields))


def operator_onboarded(operator_id: str, name: str = "東海スマートエナジー") -> OperatorOnboarded:
    """An operator the utility onboarded."""
    return OperatorOnboarded(operator_id=operator_id, name=name, agreement_date=date(2025, 4, 1))


# --------------------------------------------------------------------------- another service's writer


class StandInWriter:
    """Writes events as another service would: CloudEvents envelopes in a transaction of its own, keyed by subject."""

    def __init__(self, settings: Settings, topics: Iterable[str] = (), *, source: str = "smguard/stand-in") -> None:
        self.settings, self.source = settings, source
        self.sequences: dict[str, int] = {}
        self._producer = clients.producer(settings, acks="all", enable_idempotence=True,
            transactional_id=f"{settings.topic_prefix}stand-in.{uuid.uuid4().hex[:8]}",
        )  # fmt: skip

    async def __aenter__(self) -> "StandInWriter":
        await ensure_topics(self.settings)
        await self._producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._producer.stop()

    async def append(
        self, subject: str, events: list[DomainEvent], *, operator_id: str | None = None, actor: str = "stand-in"
    ) -> list[Envelope]:
        """Append one aggregate's events (the tenant defaults to the first event's ``operator_id``); their envelopes."""
        tenant = operator_id if operator_id is not None else getattr(events[0], "operator_id", None)
        envelopes = []
        for event in events:
            self.sequences[subject] = self.sequences.get(subject, 0) + 1
            envelopes.append(
                Envelope(event=event, subject=subject, sequence=self.sequences[subject], source=self.source,
                         operator_id=tenant, actor=actor)
            )  # fmt: skip
        async with self._producer.transaction():
            for envelope in envelopes:
                message = encode(envelope)
                await self._producer.send(
                    self.settings.topic(type(envelope.event).topic), message.value, key=message.key,
                    headers=kafka_headers(message),
                )  # fmt: skip
        return envelopes


async def soc_principal(settings: Settings, name: str = "soc-siem") -> Settings:
    """The same deployment, connected as a read-only SOC principal (once the broker knows its new credential)."""
    credentials = await asyncio.to_thread(add_user, settings, SOC_CONSUMER, name)
    soc = settings.model_copy(update={"kafka_username": credentials.user, "kafka_password": SecretStr(credentials.password)})

    async def accepted() -> bool:
        probe = clients.producer(soc)  # a producer: it may connect, not write
        try:
            await probe.start()
            return True
        except KafkaError:  # the credential reaches the broker's authenticator a moment after it was made
            return False
        finally:
            await probe.stop()

    await eventually(accepted, what="the broker accepts the SOC principal's credential")
    return soc


# --------------------------------------------------------------------------- time


class FakeClock:
    """A clock the test sets and moves; call it for the time."""

    def __init__(self, now: datetime = FIXED_TIME) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        """Move time forward, e.g. ``advance(hours=25)``."""
        self.now += timedelta(**delta)


# --------------------------------------------------------------------------- loopback servers


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LoopbackServer:
    """A real HTTP server on 127.0.0.1 that keeps every POST and answers with ``respond`` (default 200).

    ``respond(body, headers)`` returns the status code, or the status code and a JSON answer; ``received``
    holds (body, headers, status).
    """

    def __init__(
        self, respond: Callable[[bytes, dict[str, str]], int | tuple[int, Any]] | None = None, *, path: str = "/hook"
    ) -> None:
        self.respond = respond or (lambda body, headers: 200)
        self.received: list[tuple[bytes, dict[str, str], int]] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = dict(self.headers)
                with server.lock:
                    answer = server.respond(body, headers)
                    status, data = answer if isinstance(answer, tuple) else (answer, None)
                    server.received.append((body, headers, status))
                payload = b"" if data is None else json.dumps(data).encode()
                self.send_response(status)
                if data is not None:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}{path}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def payloads(self, *, ok_only: bool = True) -> list[dict[str, Any]]:
        """The JSON bodies received (only those answered 2xx, unless ``ok_only`` is False)."""
        with self.lock:
            return [json.loads(body) for body, _, status in self.received if status < 300 or not ok_only]

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()


# --------------------------------------------------------------------------- apps and polling


@asynccontextmanager
async def serving(app: FastAPI, *, ready: bool = True) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app's lifespan (its runtime against the real broker) and give an HTTP client to it.

    With ``ready`` (default) the client is given once ``/readyz`` says the service owns its partitions
    and has caught up, as a load balancer would wait: before that, writes answer 503 by design.
    """
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            if ready:
                await eventually(lambda: _is_ready(client), timeout=60, interval=0.1, what="the service ready")
            yield client


async def _is_ready(client: httpx.AsyncClient) -> bool:
    return (await client.get("/readyz")).status_code == 200


@asynccontextmanager
async def listening(app: Any, *, lifespan: str = "auto") -> AsyncIterator[str]:
    """Serve the app with uvicorn on a free local port in this loop (for commands that call it over HTTP).

    Pass ``lifespan="off"`` when the app's runtime is already started (inside ``serving``): starting it
    twice would open a second writer that fences the first.
    """
    import uvicorn

    config = uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_config=None, access_log=False, lifespan=lifespan)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        await task


async def eventually(
    check: Callable[[], Awaitable[Any] | Any], *, timeout: float = 20.0, interval: float = 0.05, what: str = ""
) -> Any:
    """Poll until ``check`` returns something truthy (awaiting it if needed); fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if asyncio.iscoroutine(last) or isinstance(last, Awaitable):
            last = await last
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"not reached within {timeout}s: {what or check} (last: {last!r})")
