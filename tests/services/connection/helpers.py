"""Builders for connection-service tests: the app, its enforcement peer, incident events, registrations, and the
in-memory harness (the service, its read models fed from the store, incident events through the router and inbox)."""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import httpx

from shared.kafka import clients
from services.connection.adapters.memory import MemoryOwners, MemorySealer
from services.connection.application.handlers import onboard_operator, register_connection
from services.connection.application.ports import PlainSecrets
from services.connection.application.reactions import decide_batch
from services.connection.application.router import route
from services.connection.application.service import ConnectionService
from services.connection.bootstrap import build_app
from services.connection.config import ConnectionSettings
from services.connection.domain.commands import InboxCommand, OnboardOperator, RegisterConnection
from services.connection.domain.model import Connection
from services.connection.projections.incidents import incident
from services.connection.projections.views import Views
from shared.clock import Clock, utcnow
from shared.config import Settings
from shared.envelope import Envelope, decode
from shared.events import DomainEvent
from shared.events.incident import AnomalyDetected, IncidentCleared, IncidentOpened, VulnerabilityDeclared
from shared.eventstore import Context, InboxRecord
from shared.eventstore.memory import InMemoryEventStore
from shared.principal import Principal
from shared.kafka.reader import assign_all, committed_consumer, read_to_end
from shared.topics import CONNECTION_COMMANDS, CONNECTION_EVENTS, INCIDENT_EVENTS
from shared.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from tests.factories import LoopbackServer, StandInWriter, bearer, eventually, incident_opened, uid

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


# --------------------------------------------------------------------------- the service in memory


class Harness:
    """The service over an in-memory store, its read models fed from what the store published (as the live
    subscriber does a moment after each commit), and incident events taken through the router and the inbox."""

    def __init__(self, service: ConnectionService, store: InMemoryEventStore) -> None:
        self.service, self.store = service, store
        self.inbox_offset = 0
        self._fed = 0

    @property
    def views(self) -> Views:
        """The read models."""
        return self.service.views

    async def sync(self) -> None:
        """Feed the read models what the store published since the last time."""
        while self._fed < len(self.store.published):
            envelope = self.store.published[self._fed]
            self._fed += 1
            await self.views.apply(envelope, resume_at=0)

    async def commands(self, events: list[DomainEvent], *, at: datetime | None = None) -> list[InboxCommand]:
        """Incident events as the incident service wrote them: into the ledger, and through the router."""
        envelopes = [incident_envelope(event, at=at) for event in events]
        for envelope in envelopes:
            await self.views.apply(envelope, resume_at=0)
        return [routed.command for envelope in envelopes for routed in route(envelope)]

    async def react(self, events: list[DomainEvent], *, at: datetime | None = None) -> None:
        """Incident events through the router, their commands decided as one inbox batch."""
        await self.deliver(await self.commands(events, at=at))

    async def deliver(self, commands: list[InboxCommand], *, partition: int = 0) -> None:
        """Commands as one inbox batch of a partition (the same ones again: a redelivery)."""
        if commands:
            self.inbox_offset += len(commands)
            last = InboxRecord(CONNECTION_COMMANDS, partition, self.inbox_offset - 1)
            await decide_batch(self.service, partition, commands, last=last)  # type: ignore[arg-type]
        await self.sync()


async def in_memory(
    tmp_path: Path, store: InMemoryEventStore | None = None, *, owners: MemoryOwners | None = None, clock: Clock = utcnow
) -> Harness:
    """The service over an in-memory store (or ``store``), with operator ``op-a`` onboarded."""
    store = store or InMemoryEventStore()
    views = Views(tmp_path / f"views-{uid('v')}.sqlite")
    service = ConnectionService(store=store, sealer=MemorySealer(), views=views, owners=owners or MemoryOwners(), clock=clock)
    harness = Harness(service, store)
    await onboard_operator(service, OnboardOperator("op-a", "A", date(2025, 4, 1)), context=Context())
    await harness.sync()
    return harness


async def registered(h: Harness, meter: str = "sm-1", model: str = "TK-100", firmware: str = "1.0") -> str:
    """A new connection of ``op-a`` on one smart meter."""
    cmd = RegisterConnection(kind="special_meter", maker="M", model=model, firmware=firmware, smart_meter_ids=(meter,))
    saved = await register_connection(h.service, cmd, SECRETS, by=STAFF, context=Context())
    await h.sync()
    return saved.aggregate_id


def types(store: InMemoryEventStore, stream: str) -> list[str]:
    """The event types of a stream, in order (as published)."""
    return [e.type for e in store.published if e.subject == stream]


def loaded(h: Harness, connection_id: str) -> Connection:
    """A connection as its snapshot describes it."""
    return h.service.connections.load(connection_id)


# --------------------------------------------------------------------------- requests


async def onboard(client: httpx.AsyncClient, settings: Settings, operator_id: str) -> None:
    """Onboard an operator as the SOC (again after a 503: the partitions may still be settling, as its
    ``Retry-After`` says; the same ``Idempotency-Key``, so a retry never onboards twice)."""
    body = {"operator_id": operator_id, "name": f"{operator_id} 株式会社", "agreement_date": "2025-04-01"}
    key = hashlib.sha256(operator_id.encode()).hexdigest()[:24]  # a header is ASCII; an operator id need not be
    headers = {**bearer(settings, "utility_soc"), "Idempotency-Key": f"onboard-{key}"}

    async def answered() -> httpx.Response | None:
        response = await client.post("/operators", json=body, headers=headers)
        return None if response.status_code == 503 else response

    response = await eventually(answered, timeout=30, interval=0.5, what=f"onboarding {operator_id} answered")
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


async def topic_events(settings: Settings, base: str) -> list[Envelope]:
    """Every committed record of one of the service's topics, read afresh from the broker."""
    consumer = committed_consumer(clients.access(settings))
    await consumer.start()
    try:
        partitions = await assign_all(consumer, [settings.topic(base)])
        await consumer.seek_to_beginning(*partitions)
        return [decode(r.value, key=r.key) async for batch in read_to_end(consumer, partitions) for r in batch]
    finally:
        await consumer.stop()


async def stream_types(settings: Settings, connection_id: str) -> list[str]:
    """The event types of a connection's stream, in order, as committed on its topic."""
    return [e.type for e in await topic_events(settings, CONNECTION_EVENTS) if e.subject == connection_id]


async def inbox_decided(app: Any) -> bool:
    """Whether the app's inbox has decided every command sent to its partitions so far."""
    consumer = app.state.runtime.store.ownership.consumer
    ends = await consumer.end_offsets(list(consumer.assignment()))
    committed = {tp: await consumer.committed(tp) or 0 for tp in ends}
    return all(committed[tp] >= end for tp, end in ends.items())


def known_incident(app: Any, incident_id: str) -> dict[str, Any] | None:
    """What the app's read models know of an incident (its ledger), or None."""
    return incident(app.state.views.docs, incident_id)


async def status_of(client: httpx.AsyncClient, settings: Settings, connection_id: str) -> dict[str, Any]:
    """The connection as the SOC sees it."""
    response = await client.get(f"/connections/{connection_id}", headers=bearer(settings, "utility_soc"))
    assert response.status_code == 200, response.text
    return response.json()
