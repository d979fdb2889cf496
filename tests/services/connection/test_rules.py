"""Rules that routes used to hold, now one application step each, over the in-memory store."""

from __future__ import annotations

import pytest

from services.connection.application import handlers, queries
from services.connection.domain.commands import BlockConnection, RegisterConnection
from shared.domain import Conflict, Forbidden, Invalid, NotFound
from shared.events.connection import ConnectionBlocked, ConnectionReconnected
from shared.eventstore import ConcurrencyError, Context
from shared.principal import Principal
from tests.factories import incident_opened
from tests.services.connection.helpers import (
    SECRETS,
    SOC,
    STAFF,
    anomaly,
    cleared,
    in_memory,
    react_to,
    registered,
    types,
)


async def recommended(service, pipeline, incident: str = "inc-r"):  # type: ignore[no-untyped-def]
    """A connection with an open block recommendation for ``incident``; (connection id, recommendation id)."""
    cid = await registered(service)
    await react_to(pipeline, anomaly(incident, cid, "op-a", kind="abnormal_communication"))
    await pipeline.idle()
    (recommendation_id,) = service.directory.recommendations
    return cid, recommendation_id


class TestBlockingNeedsAnOpenIncident:
    async def test_a_cleared_incident_blocks_neither_by_hand_nor_by_confirming_its_recommendation(self):
        service, pipeline = await in_memory()
        cid, recommendation_id = await recommended(service, pipeline)
        await react_to(pipeline, cleared("inc-r"))
        with pytest.raises(Conflict, match="already cleared"):
            await handlers.block_connection(
                service, cid, BlockConnection("abnormal_communication", "inc-r"), by=SOC, context=Context()
            )
        with pytest.raises(Conflict, match="already cleared"):
            await handlers.confirm_recommendation(service, recommendation_id, note="", by=SOC, context=Context())
        assert types(service.store, cid) == ["ConnectionRegistered", "BlockRecommended"]

    async def test_an_incident_unknown_here_blocks_nothing(self):
        service, _ = await in_memory()
        cid = await registered(service)
        with pytest.raises(Invalid, match="not known"):
            await handlers.block_connection(
                service, cid, BlockConnection("unauthorized_access", "inc-x"), by=SOC, context=Context()
            )

    async def test_a_retried_block_answers_the_first_request_id(self):
        service, pipeline = await in_memory()
        cid = await registered(service)
        await react_to(pipeline, [incident_opened("inc-1", "op-a")])
        cmd = BlockConnection("unauthorized_access", "inc-1")
        first = await handlers.block_connection(service, cid, cmd, by=SOC, context=Context(), key="k")
        again = await handlers.block_connection(service, cid, cmd, by=SOC, context=Context(), key="k")
        assert again.first(ConnectionBlocked).request_id == first.first(ConnectionBlocked).request_id  # type: ignore[union-attr]
        assert types(service.store, cid).count("ConnectionBlocked") == 1

    async def test_a_block_on_a_connection_that_moved_on_is_a_version_conflict(self):
        service, pipeline = await in_memory()
        cid = await registered(service)
        await react_to(pipeline, [incident_opened("inc-1", "op-a")])
        cmd = BlockConnection("unauthorized_access", "inc-1")
        with pytest.raises(ConcurrencyError):
            await handlers.block_connection(service, cid, cmd, by=SOC, context=Context(), expected_version=0)
        assert (await handlers.block_connection(service, cid, cmd, by=SOC, context=Context(), expected_version=1)).version == 2


class TestRecommendations:
    async def test_the_work_list_and_the_read_model_agree_on_which_are_listed(self):
        service, pipeline = await in_memory()
        _, recommendation_id = await recommended(service, pipeline)
        listed = lambda: [r["id"] for r in queries.open_recommendations(service)]  # noqa: E731
        in_model = lambda: queries.read_model(service)["recommendations"][recommendation_id]["listed"]  # noqa: E731
        assert listed() == [recommendation_id] and in_model() is True
        await react_to(pipeline, cleared("inc-r"))
        assert listed() == [] and in_model() is False

    async def test_a_decision_on_a_connection_that_moved_on_is_a_version_conflict(self):
        service, pipeline = await in_memory()
        _, recommendation_id = await recommended(service, pipeline)
        for decide in (handlers.confirm_recommendation, handlers.reject_recommendation):
            with pytest.raises(ConcurrencyError):
                await decide(service, recommendation_id, note="", by=SOC, context=Context(), expected_version=1)
        saved = await handlers.reject_recommendation(service, recommendation_id, note="", by=SOC, context=Context(), expected_version=2)
        assert saved.version == 3

    async def test_a_confirmed_block_is_written_for_the_connections_tenant(self):
        service, pipeline = await in_memory()
        cid, recommendation_id = await recommended(service, pipeline)
        saved = await handlers.confirm_recommendation(service, recommendation_id, note="", by=SOC, context=Context(actor="soc"))
        assert saved.aggregate_id == cid and saved.envelopes[0].operator_id == "op-a"


class TestRegistration:
    async def test_an_operator_registers_for_itself_only_and_the_utility_names_the_operator(self):
        service, _ = await in_memory()
        cmd = RegisterConnection(kind="special_meter", maker="M", model="X", firmware="1", operator_id="op-b")
        with pytest.raises(Forbidden):
            await handlers.register_connection(service, cmd, SECRETS, by=STAFF, context=Context())
        with pytest.raises(Invalid, match="operator_id is required"):
            await handlers.register_connection(
                service, RegisterConnection(kind="special_meter", maker="M", model="X", firmware="1"), SECRETS,
                by=SOC, context=Context(),
            )  # fmt: skip
        with pytest.raises(Invalid, match="not onboarded"):
            await handlers.register_connection(service, cmd, SECRETS, by=SOC, context=Context())


class TestBulkApproval:
    async def test_the_callers_side_approves_every_connection_it_may_see_and_skips_the_refused(self):
        service, pipeline = await in_memory()
        fine, leaked = await registered(service, meter="sm-1"), await registered(service, meter="sm-2")
        for cid in (fine, leaked):
            await react_to(pipeline, anomaly("inc-b", cid, "op-a"))
        await react_to(pipeline, [incident_opened("leak-1", "op-a", category="credential_leak", connection_id=leaked)])
        await react_to(pipeline, cleared("inc-b"))
        by_operator = await handlers.approve_for_incident(service, "inc-b", note="", by=STAFF, context=Context())
        assert by_operator.approved == [fine] and by_operator.reconnected == []
        assert [s["id"] for s in by_operator.skipped] == [leaked] and "rotate" in by_operator.skipped[0]["reason"]
        by_utility = await handlers.approve_for_incident(service, "inc-b", note="", by=SOC, context=Context())
        assert by_utility.reconnected == [fine] and by_utility.party == "utility"

    async def test_an_incident_that_blocked_nothing_the_caller_may_see_is_not_found(self):
        service, pipeline = await in_memory()
        cid = await registered(service)
        await react_to(pipeline, anomaly("inc-c", cid, "op-a"))
        stranger = Principal(sub="x", role="operator", operator_id="op-z")
        with pytest.raises(NotFound):
            await handlers.approve_for_incident(service, "inc-c", note="", by=stranger, context=Context())

    async def test_a_retried_approval_answers_as_the_first_did(self):
        service, pipeline = await in_memory()
        cid = await registered(service)
        await react_to(pipeline, anomaly("inc-d", cid, "op-a"))
        await react_to(pipeline, cleared("inc-d"))
        await handlers.approve_reconnection(service, cid, note="", by=STAFF, context=Context())
        first = await handlers.approve_reconnection(service, cid, note="", by=SOC, context=Context(), key="k")
        again = await handlers.approve_reconnection(service, cid, note="", by=SOC, context=Context(), key="k")
        assert first.first(ConnectionReconnected) is not None and again.first(ConnectionReconnected) is not None
