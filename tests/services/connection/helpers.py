"""Builders for connection-service tests: the app, its enforcement peer, incident events, registrations."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from typing import Any

import httpx

from services.connection.adapters.memory import MemorySealer
from services.connection.application.handlers import onboard_operator, register_connection
from services.connection.application.pipeline import Pipeline
from services.connection.application.ports import PlainSecrets
from services.connection.application.service import ConnectionService
from services.connection.bootstrap import build_app, build_service
from services.connection.config import ConnectionSettings
from services.connection.domain.commands import OnboardOperator, RegisterConnection
from shared.config import Settings
from shared.envelope import Envelope
from shared.events import DomainEvent
from shared.eventstore import Context, EventStore
from shared.eventstore.memory import InMemoryEventStore
from shared.principal import Principal
from shared.events.incident import AnomalyDetected, IncidentCleared, IncidentOpened, VulnerabilityDeclared
from shared.topics import INCIDENT_EVENTS
from shared.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from tests.factories import LoopbackServer, StandInWriter, bearer, incident_opened, uid

PEER_SECRET = "enforcement-peer-test-secret"
PASSWORD = "P@ssw0rd-秘密-4f9c2e"
PAIRING = "PAIR-7781-ZZQX-0042"
SECRETS = PlainSecrets(auth_id="AUTH-0001-XYZ", password="pw-テスト", pairing_id="PAIR-0001-XYZ")
SOC = Principal(sub="soc", role="utility_soc")
STAFF = Principal(sub="staff-a", role="operator", operator_id="op-a")


# --------------------------------------------------------------------------- the enforcement peer


class PeerAnswers:
    """How the enforcement peer answers: 401 to a bad signature, 503 to the first ``fail_first`` requests or
    while ``always_fail``, else 200."""

    def __init__(self) -> None:
        self.fail_first = 0
        self.always_fail = False

    def __call__(self, body: bytes, headers: dict[str, str]) -> int:
        named = {name.lower(): value for name, value in headers.items()}
        signed = verify(
            PEER_SECRET.encode(), body,
            timestamp=named.get(TIMESTAMP_HEADER.lower()), signature=named.get(SIGNATURE_HEADER.lower()),
        )  # fmt: skip
        if not signed:
            return 401
        if self.always_fail or self.fail_first > 0:
            self.fail_first = max(0, self.fail_first - 1)
            return 503
        return 200


def answers(peer: LoopbackServer) -> PeerAnswers:
    """The peer's answering rules, to change while a test runs."""
    assert isinstance(peer.respond, PeerAnswers)
    return peer.respond


def requests_to(peer: LoopbackServer) -> list[dict[str, Any]]:
    """Every request the peer received, with ``ok`` when it acknowledged it."""
    with peer.lock:
        received = list(peer.received)
    return [{**json.loads(body), "ok": status < 300} for body, _, status in received]


def acknowledged(peer: LoopbackServer, request_id: str) -> int:
    """How many times the peer answered 2xx for a request id."""
    return sum(1 for r in requests_to(peer) if r["request_id"] == request_id and r["ok"])


def bad_signatures(peer: LoopbackServer) -> int:
    """Requests the peer refused for their signature."""
    with peer.lock:
        return sum(1 for _, _, status in peer.received if status == 401)


# --------------------------------------------------------------------------- the app


def own_settings(peer: LoopbackServer | None, **overrides: Any) -> ConnectionSettings:
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


def app_for(settings: Settings, peer: LoopbackServer | None = None, **overrides: Any):  # type: ignore[no-untyped-def]
    """The connection service's app for a test."""
    return build_app(settings, own_settings(peer, **overrides))


# --------------------------------------------------------------------------- incident events


def incident_writer(settings: Settings) -> StandInWriter:
    """The incident service's writer, played by the test."""
    return StandInWriter(settings, [INCIDENT_EVENTS], source="smguard/incident")


def anomaly(incident_id: str, connection_id: str, operator_id: str, kind: str = "unauthorized_access") -> list[DomainEvent]:
    """An anomaly on a connection that opened an incident, as the incident service writes it."""
    now = datetime.now(timezone.utc)
    opened = incident_opened(
        incident_id, operator_id, category=kind, title="異常通信", detected_at=now, origin="anomaly",
        connection_id=connection_id,
    )  # fmt: skip
    detected = AnomalyDetected(
        incident_id=incident_id, signal_id=uid("sig"), connection_id=connection_id, operator_id=operator_id,
        anomaly_type=kind, severity="high", observed_at=now,
    )  # fmt: skip
    return [opened, detected]


def vulnerability(incident_id: str, **criteria: Any) -> list[DomainEvent]:
    """A serious vulnerability the utility declared on equipment matching ``criteria``."""
    opened = IncidentOpened(
        incident_id=incident_id, category="vulnerability", severity="critical", title="重大な脆弱性",
        detected_at=datetime.now(timezone.utc), opened_by="utility", origin="vulnerability",
    )  # fmt: skip
    return [opened, VulnerabilityDeclared(incident_id=incident_id, title="重大な脆弱性", severity="critical", **criteria)]


def cleared(incident_id: str) -> list[DomainEvent]:
    """The incident was cleared."""
    return [IncidentCleared(incident_id=incident_id, summary="解消", cleared_by="utility")]


def incident_envelope(event: DomainEvent, *, at: datetime | None = None) -> Envelope:
    """An incident event as the incident service wrote it (at ``at``, default now)."""
    return Envelope(
        event=event, subject=event.incident_id, sequence=1, source="smguard/incident",  # type: ignore[attr-defined]
        time=at or datetime.now(timezone.utc),
    )  # fmt: skip


async def react_to(pipeline: Pipeline, events: list[DomainEvent], *, at: datetime | None = None) -> None:
    """Hand incident events to the reactions, one by one, as the incident subscriber does."""
    for event in events:
        await pipeline.handle(incident_envelope(event, at=at))


# --------------------------------------------------------------------------- the service in memory


async def in_memory(store: EventStore | None = None) -> tuple[ConnectionService, Pipeline]:
    """The service and its reactions over an in-memory store (or ``store``), with operator ``op-a`` onboarded."""
    service, pipeline = build_service(store or InMemoryEventStore(), sealer=MemorySealer())
    await onboard_operator(service, OnboardOperator("op-a", "A", date(2025, 4, 1)), context=Context())
    return service, pipeline


async def registered(service: ConnectionService, meter: str = "sm-1", model: str = "TK-100") -> str:
    """A new connection of ``op-a`` on one smart meter."""
    cmd = RegisterConnection(kind="special_meter", maker="M", model=model, firmware="1.0", smart_meter_ids=(meter,))
    return (await register_connection(service, cmd, SECRETS, by=STAFF, context=Context())).aggregate_id


def types(store: EventStore, stream: str) -> list[str]:
    """The event types of a stream, in order."""
    return [e.type for e in store.load(stream)]


# --------------------------------------------------------------------------- requests


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
        "smart_meter_ids": [uid("sm")],
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
