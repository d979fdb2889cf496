"""Rules that routes used to hold, now one application step each, over the in-memory store."""

from __future__ import annotations

import pytest

from services.connection.adapters.memory import MemoryOwners
from services.connection.application import approvals, handlers, queries
from services.connection.domain.commands import BlockConnection, RegisterConnection
from shared.domain import Conflict, Forbidden, Invalid, NotFound
from shared.events.connection import ConnectionBlocked, ConnectionReconnected
from shared.eventstore import ConcurrencyError, Context, NotOwner
from shared.eventstore.memory import InMemoryEventStore
from shared.principal import Principal
from tests.factories import incident_opened
from tests.services.connection.helpers import (
    SECRETS,
    SOC,
    STAFF,
    Harness,
    anomaly,
    cleared,
    in_memory,
    loaded,
    registered,
    types,
)

OTHER = "http://127.0.0.1:8202"


class OwnsSome(InMemoryEventStore):
    """Owns everything but ``elsewhere``, which another instance (at ``OTHER``) owns."""

    def __init__(self) -> None:
        super().__init__()
        self.elsewhere: set[str] = set()

    def require_owner(self, key: str) -> None:
        if key in self.elsewhere:
            raise NotOwner(key, partition=1, owner=OTHER)


async def recommended(h: Harness, incident: str = "inc-r") -> tuple[str, str]:
    """A connection with an open block recommendation for ``incident``; (connection id, recommendation id)."""
    cid = await registered(h)
    await h.react(anomaly(incident, cid, "op-a", kind="abnormal_communication"))
    (recommendation_id,) = loaded(h, cid).recommendations
    return cid, recommendation_id


async def bulk(h: Harness, incident: str, by: Principal):  # type: ignore[no-untyped-def]
    """The caller's side approves every connection the incident blocked (the caller's token: ``Bearer t``)."""
    done = await approvals.approve_for_incident(h.service, incident, note="", by=by, context=Context(), credentials="Bearer t")
    await h.sync()
    return done


class TestBlockingNeedsAnOpenIncident:
    async def test_a_cleared_incident_blocks_neither_by_hand_nor_by_confirming_its_recommendation(self, tmp_path):
        h = await in_memory(tmp_path)
        cid, recommendation_id = await recommended(h)
        await h.react(cleared("inc-r"))
        with pytest.raises(Conflict, match="already cleared"):
            await handlers.block_connection(
                h.service, cid, BlockConnection("abnormal_communication", "inc-r"), by=SOC, context=Context()
            )
        with pytest.raises(Conflict, match="already cleared"):
            await handlers.confirm_recommendation(h.service, recommendation_id, note="", by=SOC, context=Context())
        assert types(h.store, cid) == ["ConnectionRegistered", "BlockRecommended"]

    async def test_an_incident_unknown_here_blocks_nothing(self, tmp_path):
        h = await in_memory(tmp_path)
        cid = await registered(h)
        with pytest.raises(Invalid, match="not known"):
            await handlers.block_connection(
                h.service, cid, BlockConnection("unauthorized_access", "inc-x"), by=SOC, context=Context()
            )

    async def test_a_retried_block_answers_the_first_request_id(self, tmp_path):
        h = await in_memory(tmp_path)
        cid = await registered(h)
        await h.react([incident_opened("inc-1", "op-a")])
        cmd = BlockConnection("unauthorized_access", "inc-1")
        first = await handlers.block_connection(h.service, cid, cmd, by=SOC, context=Context(), key="k")
        again = await handlers.block_connection(h.service, cid, cmd, by=SOC, context=Context(), key="k")
        assert again.first(ConnectionBlocked).request_id == first.first(ConnectionBlocked).request_id  # type: ignore[union-attr]
        assert types(h.store, cid).count("ConnectionBlocked") == 1

    async def test_a_block_on_a_connection_that_moved_on_is_a_version_conflict(self, tmp_path):
        h = await in_memory(tmp_path)
        cid = await registered(h)
        await h.react([incident_opened("inc-1", "op-a")])
        cmd = BlockConnection("unauthorized_access", "inc-1")
        with pytest.raises(ConcurrencyError):
            await handlers.block_connection(h.service, cid, cmd, by=SOC, context=Context(), expected_version=0)
        assert (await handlers.block_connection(h.service, cid, cmd, by=SOC, context=Context(), expected_version=1)).version == 2


class TestRecommendations:
    async def test_the_work_list_and_the_read_model_agree_on_which_are_listed(self, tmp_path):
        h = await in_memory(tmp_path)
        _, recommendation_id = await recommended(h)
        listed = lambda: [r["id"] for r in queries.open_recommendations(h.service)]  # noqa: E731
        in_model = lambda: queries.read_model(h.service)["recommendations"][recommendation_id]["listed"]  # noqa: E731
        assert listed() == [recommendation_id] and in_model() is True
        await h.react(cleared("inc-r"))
        assert listed() == [] and in_model() is False

    async def test_a_decision_on_a_connection_that_moved_on_is_a_version_conflict(self, tmp_path):
        h = await in_memory(tmp_path)
        _, recommendation_id = await recommended(h)
        for decide in (handlers.confirm_recommendation, handlers.reject_recommendation):
            with pytest.raises(ConcurrencyError):
                await decide(h.service, recommendation_id, note="", by=SOC, context=Context(), expected_version=1)
        saved = await handlers.reject_recommendation(h.service, recommendation_id, note="", by=SOC, context=Context(), expected_version=2)
        assert saved.version == 3

    async def test_a_confirmed_block_is_written_for_the_connections_tenant(self, tmp_path):
        h = await in_memory(tmp_path)
        cid, recommendation_id = await recommended(h)
        saved = await handlers.confirm_recommendation(h.service, recommendation_id, note="", by=SOC, context=Context(actor="soc"))
        assert saved.aggregate_id == cid and saved.envelopes[0].operator_id == "op-a"


class TestRegistration:
    async def test_an_operator_registers_for_itself_only_and_the_utility_names_the_operator(self, tmp_path):
        h = await in_memory(tmp_path)
        cmd = RegisterConnection(kind="special_meter", maker="M", model="X", firmware="1", operator_id="op-b")
        with pytest.raises(Forbidden):
            await handlers.register_connection(h.service, cmd, SECRETS, by=STAFF, context=Context())
        with pytest.raises(Invalid, match="operator_id is required"):
            await handlers.register_connection(
                h.service, RegisterConnection(kind="special_meter", maker="M", model="X", firmware="1"), SECRETS,
                by=SOC, context=Context(),
            )  # fmt: skip
        with pytest.raises(Invalid, match="not onboarded"):
            await handlers.register_connection(h.service, cmd, SECRETS, by=SOC, context=Context())


class TestBulkApproval:
    async def test_the_callers_side_approves_every_connection_it_may_see_and_skips_the_refused(self, tmp_path):
        h = await in_memory(tmp_path)
        fine, leaked = await registered(h, meter="sm-1"), await registered(h, meter="sm-2")
        for cid in (fine, leaked):
            await h.react(anomaly("inc-b", cid, "op-a"))
        await h.react([incident_opened("leak-1", "op-a", category="credential_leak", connection_id=leaked)])
        await h.react(cleared("inc-b"))
        by_operator = await bulk(h, "inc-b", STAFF)
        assert by_operator.approved == [fine] and by_operator.reconnected == []
        assert [s["id"] for s in by_operator.skipped] == [leaked] and "rotate" in by_operator.skipped[0]["reason"]
        by_utility = await bulk(h, "inc-b", SOC)
        assert by_utility.reconnected == [fine] and by_utility.party == "utility"

    async def test_an_incident_that_blocked_nothing_the_caller_may_see_is_not_found(self, tmp_path):
        h = await in_memory(tmp_path)
        cid = await registered(h)
        await h.react(anomaly("inc-c", cid, "op-a"))
        stranger = Principal(sub="x", role="operator", operator_id="op-z")
        with pytest.raises(NotFound):
            await bulk(h, "inc-c", stranger)

    async def test_a_retried_approval_answers_as_the_first_did(self, tmp_path):
        h = await in_memory(tmp_path)
        cid = await registered(h)
        await h.react(anomaly("inc-d", cid, "op-a"))
        await h.react(cleared("inc-d"))
        await handlers.approve_reconnection(h.service, cid, note="", by=STAFF, context=Context())
        first = await handlers.approve_reconnection(h.service, cid, note="", by=SOC, context=Context(), key="k")
        again = await handlers.approve_reconnection(h.service, cid, note="", by=SOC, context=Context(), key="k")
        assert first.first(ConnectionReconnected) is not None and again.first(ConnectionReconnected) is not None

    async def test_the_connections_another_instance_owns_are_approved_there_as_the_caller(self, tmp_path):
        store = OwnsSome()
        owners = MemoryOwners()
        h = await in_memory(tmp_path, store, owners=owners)
        here, there, refused = [await registered(h, meter=f"sm-{n}") for n in range(3)]
        for cid in (here, there, refused):
            await h.react(anomaly("inc-e", cid, "op-a"))
        await h.react(cleared("inc-e"))
        store.elsewhere |= {there, refused}
        owners.answers = {there: True, refused: "the utility side has already approved reconnection"}
        done = await bulk(h, "inc-e", SOC)
        assert set(done.approved) == {here, there} and done.reconnected == [there]
        assert done.skipped == [{"id": refused, "reason": "the utility side has already approved reconnection"}]
        calls = {(owner, cid, credentials) for owner, cid, _, credentials in owners.calls}
        assert calls == {(OTHER, there, "Bearer t"), (OTHER, refused, "Bearer t")}
        assert types(store, there)[-1] == "BlockReleased" and types(store, here)[-1] == "ReconnectionApproved"
