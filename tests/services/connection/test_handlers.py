"""Incident reactions through the router and the inbox handler, over the in-memory store: once per command,
the policy in time, order within a batch, fleet matching per partition, leaks."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from services.connection.application import reactions
from services.connection.application.handlers import change_policy
from shared.eventstore import Context
from shared.eventstore.memory import InMemoryEventStore
from shared.eventstore.partitioning import id_on, partition_of
from shared.events.incident import VulnerabilityDeclared
from tests.factories import incident_opened
from tests.services.connection.helpers import (
    SOC,
    anomaly,
    cleared,
    in_memory,
    loaded,
    registered,
    types,
    vulnerability,
)


class TwoPartitions(InMemoryEventStore):
    """Owns everything, spread over two partitions by id as the Kafka store spreads it; new ids alternate."""

    def __init__(self) -> None:
        super().__init__()
        self._next = 0

    def partition_of(self, key: str) -> int:
        return partition_of(key, 2)

    def new_id(self, *, near: str | None = None, prefix: str = "") -> str:
        self._next += 1
        return id_on(self._next % 2, 2, prefix=prefix)


class TestTheInbox:
    async def test_a_command_delivered_twice_decides_once_and_each_delivery_commits_its_offset(self, tmp_path):
        h = await in_memory(tmp_path)
        cid = await registered(h)
        commands = await h.commands(anomaly("inc-1", cid, "op-a"))
        await h.deliver(commands)
        await h.deliver(commands)
        assert types(h.store, cid) == ["ConnectionRegistered", "ConnectionBlocked"]
        assert [r.offset for r in h.store.consumed_records] == [0, 1]

    async def test_an_anomaly_on_a_connection_unknown_here_decides_nothing(self, tmp_path):
        h = await in_memory(tmp_path)
        before = len(h.store.published)
        await h.react(anomaly("inc-1", "conn-unknown", "op-a"))
        assert len(h.store.published) == before and len(h.store.consumed_records) == 1

    async def test_the_policy_in_force_when_the_anomaly_was_recorded_decides(self, tmp_path):
        h = await in_memory(tmp_path)
        cid = await registered(h)
        earlier = datetime.now(timezone.utc) - timedelta(minutes=5)
        await change_policy(h.service, {"unauthorized_access": "off"}, by=SOC, context=Context())
        await h.sync()
        await h.react(anomaly("inc-1", cid, "op-a"), at=earlier)
        assert types(h.store, cid) == ["ConnectionRegistered", "ConnectionBlocked"]
        await h.react(anomaly("inc-2", cid, "op-a"))
        assert types(h.store, cid).count("ConnectionBlocked") == 1

    async def test_under_recommend_an_anomaly_raises_one_recommendation(self, tmp_path):
        h = await in_memory(tmp_path)
        cid = await registered(h)
        commands = await h.commands(anomaly("inc-1", cid, "op-a", kind="abnormal_communication"))
        await h.deliver(commands + commands)
        assert types(h.store, cid) == ["ConnectionRegistered", "BlockRecommended"]


class TestClearing:
    async def test_a_clearing_releases_a_block_decided_just_before_it_in_the_same_batch(self, tmp_path):
        h = await in_memory(tmp_path)
        cid = await registered(h)
        await h.react([*anomaly("inc-1", cid, "op-a"), *cleared("inc-1")])
        assert types(h.store, cid) == ["ConnectionRegistered", "ConnectionBlocked", "BlockReleased"]
        assert loaded(h, cid).status == "awaiting_approval"

    async def test_a_clearing_releases_only_what_that_incident_holds(self, tmp_path):
        h = await in_memory(tmp_path)
        both, other = await registered(h, meter="sm-1"), await registered(h, meter="sm-2")
        await h.react([*anomaly("inc-1", both, "op-a"), *anomaly("inc-2", both, "op-a"), *anomaly("inc-2", other, "op-a")])
        await h.react(cleared("inc-1"))
        assert loaded(h, both).status == "blocked" and list(loaded(h, both).holds) == ["inc-2"]
        assert types(h.store, other)[-1] == "ConnectionBlocked"


class TestFleet:
    async def test_a_vulnerability_sent_to_every_partition_blocks_exactly_the_matching_units_of_each(self, tmp_path):
        store = TwoPartitions()
        h = await in_memory(tmp_path, store)
        hits = [await registered(h, meter=f"sm-{n}", model="TK-9", firmware="3.0.1") for n in range(4)]
        misses = [await registered(h, model="TK-9", firmware="3.1.0"), await registered(h, model="TK-8", firmware="3.0.1")]
        assert {store.partition_of(c) for c in hits} == {0, 1}
        [command] = await h.commands(vulnerability("vuln-1", asset_kind="special_meter", maker="m", model="tk-9", firmware="<3.1"))
        await h.deliver([command], partition=0)
        blocked = lambda: {c for c in hits + misses if loaded(h, c).status == "blocked"}  # noqa: E731
        assert blocked() == {c for c in hits if store.partition_of(c) == 0}
        await h.deliver([command], partition=1)
        await h.deliver([command], partition=1)
        assert blocked() == set(hits)
        assert all(types(store, c).count("ConnectionBlocked") == 1 for c in hits)
        assert all(loaded(h, c).holds["vuln-1"].decided_by.kind == "policy" for c in hits)

    async def test_a_fleet_larger_than_a_chunk_is_blocked_whole_once_with_the_batch_around_it(self, tmp_path, monkeypatch):
        monkeypatch.setattr(reactions, "CHUNK", 2)
        h = await in_memory(tmp_path)
        fleet = [await registered(h, meter=f"sm-{n}", model="TK-9", firmware="3.0.1") for n in range(5)]
        before, after = await registered(h, model="TK-1"), await registered(h, model="TK-2")
        commands = await h.commands([*anomaly("inc-1", before, "op-a"), *vulnerability("vuln-1", asset_kind="special_meter",
                                     model="TK-9", firmware="<3.1"), *anomaly("inc-2", after, "op-a")])  # fmt: skip
        await h.deliver(commands)
        assert all(loaded(h, c).status == "blocked" for c in [before, *fleet, after])
        assert h.store.consumed_records[-1].offset == h.inbox_offset - 1 and len(h.store.consumed_records) == 1
        await h.deliver(commands)  # the batch read again (as after a failure between chunks): nothing decided twice
        assert all(types(h.store, c).count("ConnectionBlocked") == 1 for c in [before, *fleet, after])

    async def test_criteria_naming_only_a_model_find_their_candidates(self, tmp_path):
        h = await in_memory(tmp_path)
        hit, miss = await registered(h, model="TK-9"), await registered(h, model="TK-8")
        await h.react(vulnerability("vuln-1", asset_kind="special_meter", model="TK-9", firmware="1.0"))
        assert loaded(h, hit).status == "blocked" and loaded(h, miss).status == "active"

    async def test_a_smart_meter_vulnerability_blocks_the_connections_on_those_meters(self, tmp_path):
        h = await in_memory(tmp_path)
        on_meter, elsewhere = await registered(h, meter="sm-9"), await registered(h, meter="sm-2")
        declared = VulnerabilityDeclared(
            incident_id="vuln-1", title="SM脆弱性", severity="critical", asset_kind="smart_meter",
            model="SM-X", smart_meter_ids=["sm-9"],
        )  # fmt: skip
        await h.react([declared])
        assert "ConnectionBlocked" in types(h.store, on_meter) and "ConnectionBlocked" not in types(h.store, elsewhere)
        (hold,) = loaded(h, on_meter).holds.values()
        assert hold.reason == "serious_vulnerability" and hold.decided_by.kind == "policy"

    async def test_an_unreadable_firmware_range_blocks_nothing(self, tmp_path):
        h = await in_memory(tmp_path)
        cid = await registered(h)
        declared = VulnerabilityDeclared(
            incident_id="vuln-2", title="脆弱性", severity="critical", asset_kind="special_meter", firmware="1.0,2.0"
        )
        await h.react([declared])
        assert types(h.store, cid) == ["ConnectionRegistered"]


class TestLeaks:
    async def test_a_credential_leak_naming_the_connection_marks_it_compromised_once(self, tmp_path):
        h = await in_memory(tmp_path)
        cid = await registered(h)
        leak = incident_opened("leak-1", "op-a", category="credential_leak", connection_id=cid)
        await h.react([leak, leak])
        assert types(h.store, cid).count("CredentialsCompromised") == 1
        assert loaded(h, cid).compromised
