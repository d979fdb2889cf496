"""Builders for connection-service tests: an enforcement peer, incident events, registrations."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from services.connection.bootstrap import build_app
from services.connection.config import ConnectionSettings
from shared import topics
from shared.config import Settings
from shared.eventstore import Context
from shared.eventstore.kafka import KafkaEventStore
from shared.events.incident import AnomalyDetected, IncidentCleared, IncidentOpened, VulnerabilityDeclared
from tests.factories import bearer

PEER_SECRET = "enforcement-peer-test-secret"
PASSWORD = "P@ssw0rd-秘密-4f9c2e"
PAIRING = "PAIR-7781-ZZQX-0042"


def unique(prefix: str) -> str:
    """An id no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@dataclass
class Peer:
    """A real HTTP server on 127.0.0.1 playing the utility's network access control."""

    fail_first: int = 0
    always_fail: bool = False
    received: list[dict[str, Any]] = field(default_factory=list)
    bad_signatures: int = 0
    server: ThreadingHTTPServer | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/enforce"

    def acknowledged(self, request_id: str) -> int:
        """How many times the peer answered 2xx for a request id."""
        with self.lock:
            return sum(1 for r in self.received if r["request_id"] == request_id and r["ok"])

    def start(self) -> "Peer":
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                stamp = self.headers["X-Smguard-Timestamp"]
                expected = "sha256=" + hmac.new(PEER_SECRET.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
                payload = json.loads(body)
                with peer.lock:
                    if not hmac.compare_digest(expected, self.headers["X-Smguard-Signature"]):
                        peer.bad_signatures += 1
                    failing = peer.always_fail or peer.fail_first > 0
                    peer.fail_first -= 1 if peer.fail_first > 0 else 0
                    peer.received.append({**payload, "ok": not failing})
                self.send_response(503 if failing else 200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()


def own_settings(peer: Peer | None, **overrides: Any) -> ConnectionSettings:
    """Connection settings for tests: fast back-off and sweep."""
    values: dict[str, Any] = {
        "enforcement_url": peer.url if peer else None,
        "enforcement_secret": PEER_SECRET,
        "enforcement_backoff_seconds": 0.05,
        "enforcement_backoff_max_seconds": 0.2,
        "enforcement_escalate_seconds": 600,
        "enforcement_sweep_seconds": 0.1,
    }
    values.update(overrides)
    return ConnectionSettings(**values)


def app_for(settings: Settings, peer: Peer | None = None, **overrides: Any):  # type: ignore[no-untyped-def]
    """The connection service's app for a test."""
    return build_app(settings, own_settings(peer, **overrides))


class IncidentFeed:
    """Writes incident events as the incident service would (its own transactional writer)."""

    def __init__(self, settings: Settings) -> None:
        self.store = KafkaEventStore(
            bootstrap=settings.kafka_bootstrap_servers,
            topics={topics.INCIDENT_EVENTS: settings.topic(topics.INCIDENT_EVENTS)},
            source="smguard/incident-test",
            transactional_id=unique(f"{settings.topic_prefix}incident-test-writer"),
        )

    async def __aenter__(self) -> "IncidentFeed":
        await self.store.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.store.stop()

    async def opened(self, incident_id: str, operator_id: str, **fields: Any) -> None:
        event = IncidentOpened(
            incident_id=incident_id, operator_id=operator_id, category=fields.pop("category", "security_incident"),
            severity="high", title="テスト事象", detected_at=datetime.now(timezone.utc), opened_by="utility", **fields,
        )
        await self.store.append(incident_id, [event], context=Context(actor="soc", operator_id=operator_id))

    async def anomaly(self, incident_id: str, connection_id: str, operator_id: str, kind: str = "unauthorized_access") -> None:
        events = [
            IncidentOpened(
                incident_id=incident_id, operator_id=operator_id, category=kind, severity="high", title="異常通信",
                detected_at=datetime.now(timezone.utc), opened_by="utility", origin="anomaly", connection_id=connection_id,
            ),
            AnomalyDetected(
                incident_id=incident_id, signal_id=unique("sig"), connection_id=connection_id, operator_id=operator_id,
                anomaly_type=kind, severity="high", observed_at=datetime.now(timezone.utc),
            ),
        ]
        await self.store.append(incident_id, events, context=Context(actor="sensor", operator_id=operator_id))

    async def vulnerability(self, incident_id: str, **criteria: Any) -> list[str]:
        events = [
            IncidentOpened(
                incident_id=incident_id, category="vulnerability", severity="critical", title="重大な脆弱性",
                detected_at=datetime.now(timezone.utc), opened_by="utility", origin="vulnerability",
            ),
            VulnerabilityDeclared(incident_id=incident_id, title="重大な脆弱性", severity="critical", **criteria),
        ]
        result = await self.store.append(incident_id, events, context=Context(actor="soc"))
        return [envelope.id for envelope in result.envelopes]

    async def cleared(self, incident_id: str) -> None:
        event = IncidentCleared(incident_id=incident_id, summary="解消", cleared_by="utility")
        await self.store.append(incident_id, [event], context=Context(actor="soc"))


async def onboard(client: httpx.AsyncClient, settings: Settings, operator_id: str) -> None:
    """Onboard an operator as the SOC."""
    response = await client.post(
        "/operators",
        json={"operator_id": operator_id, "name": f"{operator_id} 株式会社", "agreement_date": "2025-04-01"},
        headers=bearer(settings, "utility_soc"),
    )
    assert response.status_code == 201, response.text


def connection_body(**overrides: Any) -> dict[str, Any]:
    """A registration body with secrets."""
    body: dict[str, Any] = {
        "kind": "special_meter",
        "maker": "東海計器",
        "model": "TK-100",
        "firmware": "2.1.0",
        "smart_meter_ids": [unique("sm")],
        "secrets": {"auth_id": "AUTH-12345678", "password": PASSWORD, "pairing_id": PAIRING},
    }
    body.update(overrides)
    return body


async def register(client: httpx.AsyncClient, settings: Settings, operator_id: str, **overrides: Any) -> str:
    """Register a connection as its operator; returns its id."""
    response = await client.post(
        "/connections", json=connection_body(**overrides), headers=bearer(settings, "operator", operator_id)
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def status_of(client: httpx.AsyncClient, settings: Settings, connection_id: str) -> dict[str, Any]:
    """The connection as the SOC sees it."""
    response = await client.get(f"/connections/{connection_id}", headers=bearer(settings, "utility_soc"))
    assert response.status_code == 200, response.text
    return response.json()
