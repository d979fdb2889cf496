"""Handlers and incident reactions over the in-memory event store: replays, policy in time, redo, enforcement."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

from services.connection.adapters.memory import RecordingEnforcement
from services.connection.application.handlers import change_policy
from services.connection.application.worker import EnforcementWorker
from shared.backoff import Backoff
from shared.envelope import Envelope
from shared.events.incident import VulnerabilityDeclared
from shared.eventstore import AppendResult, Context, Staged, StoreUnavailable
from shared.eventstore.memory import InMemoryEventStore
from tests.factories import eventually, incident_opened
from tests.services.connection.helpers import (
    SOC,
    anomaly,
    cleared,
    in_memory,
    incident_envelope,
    react_to,
    registered,
    types,
)


class FlakyStore(InMemoryEventStore):
    """Stages as asked but fails the next ``failures`` commits, then forgets what it staged (a new
    generation), as the Kafka store does when it reads its topics again after a failed transaction."""

    failures = 0

    def stage(self, aggregate_id, events, **kwargs):  # type: ignore[no-untyped-def]
        if not self.failures:
            return super().stage(aggregate_id, events, **kwargs)
        self.failures -= 1
        landed = list(self.all())
        super().stage(aggregate_id, events, **kwargs)  # later loads see the events until the commit fails
        failed = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_soon(self._forget, landed, failed)
        return Staged(failed)

    def _forget(self, landed: list[Envelope], failed: asyncio.Future) -> None:
        self._index.reset()
        self._index.add(landed)
        failed.set_exception(StoreUnavailable("broker away"))


class HeldStore(InMemoryEventStore):
    """Stages at once; while ``holding``, lets the commits land only when the test releases them (a slow broker)."""

    def __init__(self) -> None:
        super().__init__()
        self.holding = False
        self.held: list[tuple[asyncio.Future, AppendResult]] = []

    def stage(self, aggregate_id, events, **kwargs):  # type: ignore[no-untyped-def]
        staged = super().stage(aggregate_id, events, **kwargs)
        if not self.holding:
            return staged
        envelopes = tuple(self.load(aggregate_id)[-len(events):])
        held = asyncio.get_running_loop().create_future()
        self.held.append((held, AppendResult(envelopes, envelopes[-1].sequence)))
        return Staged(held)

    def release(self) -> None:
        """Every held commit lands."""
        for held, result in self.held:
            held.set_result(result)
        self.held.clear()


class TestAnomalyReaction:
    async def test_a_replayed_anomaly_adds_nothing(self):
        service, pipeline = await in_memory()
        cid = await registered(service)
        envelopes = [incident_envelope(event) for event in anomaly("inc-1", cid, "op-a")]
        for _ in range(2):
            for envelope in envelopes:
                await pipeline.handle(envelope)
            await pipeline.idle()
        assert types(service.store, cid) == ["ConnectionRegistered", "ConnectionBlocked"]

    async def test_the_policy_in_force_when_the_anomaly_was_recorded_decides(self):
        service, pipeline = await in_memory()
        cid = await registered(service)
        earlier = datetime.now(timezone.utc) - timedelta(minutes=5)
        await change_policy(service, {"unauthorized_access": "off"}, by=SOC, context=Context())
        await react_to(pipeline, anomaly("inc-1", cid, "op-a"), at=earlier)
        await pipeline.idle()
        assert types(service.store, cid) == ["ConnectionRegistered", "ConnectionBlocked"]
        await react_to(pipeline, anomaly("inc-2", cid, "op-a"))
        await pipeline.idle()
        assert types(service.store, cid).count("ConnectionBlocked") == 1

    async def test_a_burst_is_decided_and_staged_at_once_and_told_only_once_committed(self):
        store = HeldStore()
        service, pipeline = await in_memory(store)
        cids = [await registered(service, meter=f"sm-{n}") for n in range(5)]
        store.holding = True
        landed: list = []
        service.listeners.append(landed.append)
        for n, cid in enumerate(cids):
            await react_to(pipeline, anomaly(f"inc-{n}", cid, "op-a"))
        assert all(types(store, cid)[-1] == "ConnectionBlocked" for cid in cids) and len(store.held) == 5
        assert len(service.directory.pending_requests) == 5 and landed == []
        store.release()
        await pipeline.idle()
        assert sorted(result.envelopes[0].subject for result in landed) == sorted(cids)


class TestRedo:
    async def test_a_reaction_that_failed_to_commit_is_decided_again_without_another_event(self):
        store = FlakyStore()
        service, pipeline = await in_memory(store)
        pipeline.retry_seconds = 0.01
        cid = await registered(service)
        landed: list = []
        service.listeners.append(landed.append)
        store.failures = 1
        await react_to(pipeline, anomaly("inc-1", cid, "op-a"))
        await eventually(lambda: landed, what="the block decided again and committed")
        assert types(store, cid).count("ConnectionBlocked") == 1 and store.generation == 1
        assert list(service.directory.pending_requests) == [landed[0].envelopes[0].event.request_id]

    async def test_clearing_right_after_a_failed_block_releases_the_block_decided_again(self):
        store = FlakyStore()
        service, pipeline = await in_memory(store)
        cid = await registered(service)
        store.failures = 1
        await react_to(pipeline, anomaly("inc-1", cid, "op-a"))
        await react_to(pipeline, cleared("inc-1"))
        assert types(store, cid) == ["ConnectionRegistered", "ConnectionBlocked", "BlockReleased"]
        assert service.directory.get(cid).connection.status == "awaiting_approval"


class TestFleetAndClearing:
    async def test_a_smart_meter_vulnerability_blocks_the_connections_on_those_meters(self):
        service, pipeline = await in_memory()
        on_meter, elsewhere = await registered(service, meter="sm-9"), await registered(service, meter="sm-2")
        declared = VulnerabilityDeclared(
            incident_id="vuln-1", title="SM脆弱性", severity="critical", asset_kind="smart_meter",
            model="SM-X", smart_meter_ids=["sm-9"],
        )
        await react_to(pipeline, [declared])
        await pipeline.idle()
        assert "ConnectionBlocked" in types(service.store, on_meter)
        assert "ConnectionBlocked" not in types(service.store, elsewhere)
        (hold,) = service.directory.get(on_meter).connection.holds.values()
        assert hold.reason == "serious_vulnerability" and hold.decided_by.kind == "policy"

    async def test_an_unreadable_firmware_range_blocks_nothing(self):
        service, pipeline = await in_memory()
        cid = await registered(service)
        declared = VulnerabilityDeclared(
            incident_id="vuln-2", title="脆弱性", severity="critical", asset_kind="special_meter", firmware="1.0,2.0"
        )
        await react_to(pipeline, [declared])
        assert types(service.store, cid) == ["ConnectionRegistered"]

    async def test_clearing_right_after_a_staged_block_releases_it(self):
        service, pipeline = await in_memory()
        cid = await registered(service)
        await react_to(pipeline, anomaly("inc-1", cid, "op-a"))
        await react_to(pipeline, cleared("inc-1"))
        assert types(service.store, cid)[-1] == "BlockReleased"
        assert service.directory.get(cid).connection.status == "awaiting_approval"

    async def test_a_credential_leak_naming_the_connection_marks_it_compromised_once(self):
        service, pipeline = await in_memory()
        cid = await registered(service)
        leak = incident_opened("leak-1", "op-a", category="credential_leak", connection_id=cid)
        await react_to(pipeline, [leak, leak])
        assert types(service.store, cid).count("CredentialsCompromised") == 1
        assert service.directory.get(cid).connection.compromised


class TestEnforcementWorker:
    def worker(self, service, port):  # type: ignore[no-untyped-def]
        worker = EnforcementWorker(service, port, backoff=Backoff(0.01, 0.05), escalate_after=600)
        service.listeners.append(worker.requested)
        return worker

    async def test_only_a_committed_request_is_sent_and_the_acknowledgement_is_recorded(self):
        store = FlakyStore()
        service, pipeline = await in_memory(store)
        port = RecordingEnforcement()
        worker = self.worker(service, port)
        cid = await registered(service)
        store.failures = 1
        await react_to(pipeline, anomaly("inc-1", cid, "op-a"))
        await pipeline.idle()
        await eventually(lambda: types(store, cid)[-1] == "BlockEnforced", what="the block enforced")
        (request_id,) = [e.event.request_id for e in store.load(cid) if e.type == "ConnectionBlocked"]
        assert [call.request_id for call in port.calls] == [request_id]
        await worker.stop()

    async def test_failures_are_recorded_and_retried_until_acknowledged(self):
        service, pipeline = await in_memory()
        port = RecordingEnforcement(fail_next=2)
        worker = self.worker(service, port)
        cid = await registered(service)
        await react_to(pipeline, anomaly("inc-1", cid, "op-a"))
        await eventually(lambda: port.acknowledged, what="acknowledged after two failures")
        await eventually(lambda: types(service.store, cid)[-1] == "BlockEnforced", what="recorded")
        assert types(service.store, cid).count("BlockEnforcementFailed") == 2 and len(port.calls) == 3
        await worker.stop()

    async def test_at_start_pending_requests_are_resumed_and_enforced_ones_are_not(self):
        service, pipeline = await in_memory()
        cid = await registered(service)
        await react_to(pipeline, anomaly("inc-1", cid, "op-a"))
        await pipeline.idle()
        port = RecordingEnforcement()
        worker = EnforcementWorker(service, port, backoff=Backoff(0.01, 0.05), escalate_after=600)
        await worker.start()
        await eventually(lambda: types(service.store, cid)[-1] == "BlockEnforced", what="resumed")
        await worker.start()
        await worker.sweep()
        assert len(port.calls) == 1
        await worker.stop()
