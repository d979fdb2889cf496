"""Handlers and incident reactions over the in-memory event store: replays, policy in time, redo."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from cryptography.fernet import Fernet

from services.connection.adapters.sealer import FernetSealer
from services.connection.application.handlers import ConnectionHandlers
from services.connection.application.ports import PlainSecrets
from services.connection.application.reactions import IncidentReactions
from services.connection.projections.directory import Directory
from shared.envelope import Envelope
from shared.eventstore import Context, StoreUnavailable
from shared.eventstore.memory import InMemoryEventStore
from shared.events.incident import AnomalyDetected, IncidentCleared, IncidentOpened, VulnerabilityDeclared
from shared.events.values import Actor
from tests.factories import eventually

SOC = Actor(kind="person", id="soc", role="utility_soc")
SECRETS = PlainSecrets(auth_id="AUTH-0001-XYZ", password="pw-テスト", pairing_id="PAIR-0001-XYZ")


class FlakyStore(InMemoryEventStore):
    """Refuses the next ``failures`` appends, as a Kafka store does while it recovers."""

    failures = 0

    async def append(self, aggregate_id, events, **kwargs):  # type: ignore[no-untyped-def]
        if self.failures:
            self.failures -= 1
            raise StoreUnavailable("broker away")
        return await super().append(aggregate_id, events, **kwargs)


async def _setup(store=None):  # type: ignore[no-untyped-def]
    store = store or InMemoryEventStore()
    handlers = ConnectionHandlers(store=store, directory=Directory(store.load), sealer=FernetSealer(Fernet.generate_key()))
    await handlers.onboard_operator("op-a", name="A", agreement_date=date(2025, 4, 1), context=Context(), idempotency_key=None)
    return handlers, IncidentReactions(handlers)


async def _connection(handlers, meter="sm-1", model="TK-100"):  # type: ignore[no-untyped-def]
    return await handlers.register_connection(
        operator_id="op-a", kind="special_meter", maker="M", model=model, firmware="1.0",
        smart_meter_ids=[meter], secrets=SECRETS, context=Context(),
    )


def _envelope(event, *, at=None):  # type: ignore[no-untyped-def]
    return Envelope(event=event, subject=event.incident_id, sequence=1, source="smguard/incident",
                    time=at or datetime.now(timezone.utc))


def _anomaly(connection_id, incident="inc-1", kind="unauthorized_access"):  # type: ignore[no-untyped-def]
    return AnomalyDetected(
        incident_id=incident, signal_id="s-1", connection_id=connection_id, operator_id="op-a",
        anomaly_type=kind, severity="high", observed_at=datetime.now(timezone.utc),
    )


def _types(store, connection_id):  # type: ignore[no-untyped-def]
    return [e.type for e in store.load(connection_id)]


class TestAnomalyReaction:
    async def test_a_replayed_anomaly_adds_nothing(self):
        handlers, reactions = await _setup()
        cid = await _connection(handlers)
        envelope = _envelope(_anomaly(cid))
        for _ in range(2):
            await reactions.handle(envelope)
            await reactions.drain()
        assert _types(handlers.store, cid) == ["ConnectionRegistered", "ConnectionBlocked"]

    async def test_the_policy_in_force_when_the_anomaly_was_recorded_decides(self):
        handlers, reactions = await _setup()
        cid = await _connection(handlers)
        earlier = datetime.now(timezone.utc) - timedelta(minutes=5)
        await handlers.change_policy({"unauthorized_access": "off"}, decided_by=SOC, context=Context())
        await reactions.handle(_envelope(_anomaly(cid), at=earlier))
        await reactions.drain()
        assert _types(handlers.store, cid) == ["ConnectionRegistered", "ConnectionBlocked"]
        await reactions.handle(_envelope(_anomaly(cid, incident="inc-2")))
        await reactions.drain()
        assert _types(handlers.store, cid).count("ConnectionBlocked") == 1

    async def test_a_reaction_that_failed_to_commit_is_decided_again(self):
        store = FlakyStore()
        handlers, reactions = await _setup(store)
        reactions.retry_seconds = 0.01
        cid = await _connection(handlers)
        store.failures = 1
        await reactions.handle(_envelope(_anomaly(cid)))
        await eventually(lambda: "ConnectionBlocked" in _types(store, cid), what="redone")
        await reactions.drain()
        assert _types(store, cid).count("ConnectionBlocked") == 1
        assert handlers.directory.pending_requests


class TestFleetAndClearing:
    async def test_a_smart_meter_vulnerability_blocks_the_connections_on_those_meters(self):
        handlers, reactions = await _setup()
        on_meter, elsewhere = await _connection(handlers, meter="sm-9"), await _connection(handlers, meter="sm-2")
        declared = VulnerabilityDeclared(
            incident_id="vuln-1", title="SM脆弱性", severity="critical", asset_kind="smart_meter",
            model="SM-X", smart_meter_ids=["sm-9"],
        )
        await reactions.handle(_envelope(declared))
        await reactions.drain()
        assert "ConnectionBlocked" in _types(handlers.store, on_meter)
        assert "ConnectionBlocked" not in _types(handlers.store, elsewhere)
        (hold,) = handlers.directory.get(on_meter).connection.holds.values()
        assert hold.reason == "serious_vulnerability" and hold.decided_by.kind == "policy"

    async def test_clearing_right_after_a_staged_block_releases_it(self):
        handlers, reactions = await _setup()
        cid = await _connection(handlers)
        await reactions.handle(_envelope(_anomaly(cid)))
        await reactions.handle(_envelope(IncidentCleared(incident_id="inc-1", summary="解消", cleared_by="utility")))
        assert _types(handlers.store, cid)[-1] == "BlockReleased"
        assert handlers.directory.get(cid).connection.status == "awaiting_approval"

    async def test_a_credential_leak_naming_the_connection_marks_it_compromised_once(self):
        handlers, reactions = await _setup()
        cid = await _connection(handlers)
        leak = IncidentOpened(
            incident_id="leak-1", operator_id="op-a", category="credential_leak", severity="high", title="漏洩",
            detected_at=datetime.now(timezone.utc), opened_by="operator", connection_id=cid,
        )
        await reactions.handle(_envelope(leak))
        await reactions.handle(_envelope(leak))
        assert _types(handlers.store, cid).count("CredentialsCompromised") == 1
        assert handlers.directory.get(cid).connection.compromised
