"""The connection's state machine as given events / when a command / then events or an error."""

from __future__ import annotations

import pytest

from services.connection.domain.matching import VulnerabilityCriteria
from services.connection.domain.model import Connection
from services.connection.domain.operator import Operator
from services.connection.domain.policy import DEFAULT_POLICY, BlockPolicy
from services.connection.domain.state import FINISHED_KEPT, INCIDENTS_KEPT
from shared.domain import Conflict, Invalid
from shared.events.connection import (
    BlockEnforced,
    BlockEnforcementFailed,
    BlockPolicyChanged,
    BlockRecommendationRejected,
    BlockRecommended,
    BlockReleased,
    ConnectionBlocked,
    ConnectionReconnected,
    ConnectionRegistered,
    CredentialsCompromised,
    EnforcementEscalated,
    ReconnectionApproved,
    SealedSecrets,
    SecretsRotated,
)
from shared.events.values import Actor
from shared.firmware import Firmware

CID, OP = "conn-1", "op-a"
SOC = Actor(kind="person", id="soc", role="utility_soc")
STAFF = Actor(kind="person", id="op-staff", role="operator")
POLICY = Actor(kind="policy", id="block-policy:unauthorized_access:auto")
SEALED = SealedSecrets(ciphertext="x", fingerprint="f", hints={"auth_id": "ab…z9"})
IDS = {"connection_id": CID, "operator_id": OP}


def registered() -> ConnectionRegistered:
    return ConnectionRegistered(
        **IDS, kind="special_meter", maker="M", model="X1", firmware="1.0", smart_meter_ids=["sm-1"], secrets=SEALED
    )


def blocked(incident: str, request: str = "r") -> ConnectionBlocked:
    return ConnectionBlocked(
        **IDS, reason="unauthorized_access", incident_id=incident, decided_by=SOC, request_id=f"{request}-{incident}"
    )


def released(incident: str, still: list[str] | None = None) -> BlockReleased:
    return BlockReleased(**IDS, incident_id=incident, still_blocking=still or [])


def approved(party: str) -> ReconnectionApproved:
    return ReconnectionApproved(**IDS, party=party, decided_by=SOC if party == "utility" else STAFF)


def given(*events) -> Connection:
    return Connection.rehydrate(CID, [registered(), *events])


def types(connection: Connection) -> list[str]:
    return [type(e).__name__ for e in connection.take_pending()]


class TestRegister:
    def test_an_operator_side_kind_is_registered(self):
        c = Connection.register(
            CID, operator_id=OP, kind="wireless_terminal", maker="M", model="X", firmware="1",
            smart_meter_ids=["sm-1", "sm-1"], secrets=SEALED,
        )
        (event,) = c.take_pending()
        assert isinstance(event, ConnectionRegistered) and event.smart_meter_ids == ["sm-1"]
        assert c.status == "active"

    def test_a_utility_side_kind_is_refused_naming_the_responsibility_rule(self):
        with pytest.raises(Invalid, match="part 4"):
            Connection.register(
                CID, operator_id=OP, kind="smart_meter", maker="M", model="X", firmware="1",
                smart_meter_ids=[], secrets=SEALED,
            )


class TestBlock:
    def test_a_block_names_the_incident_and_who_decided(self):
        c = given()
        c.block(reason="unauthorized_access", incident_id="inc-1", decided_by=SOC, request_id="r1")
        (event,) = c.take_pending()
        assert event.incident_id == "inc-1" and event.decided_by == SOC and event.request_id == "r1"
        assert c.status == "blocked"

    def test_two_incidents_block_one_connection(self):
        c = given(blocked("inc-1"))
        c.block(reason="abnormal_communication", incident_id="inc-2", decided_by=SOC, request_id="r2")
        assert set(c.holds) == {"inc-1", "inc-2"}

    def test_blocking_again_for_the_same_incident_is_a_conflict(self):
        with pytest.raises(Conflict, match="already blocked"):
            given(blocked("inc-1")).block(reason="unauthorized_access", incident_id="inc-1", decided_by=SOC, request_id="r")

    def test_the_policy_blocks_once_per_incident_and_then_does_nothing(self):
        c = given(blocked("inc-1"), released("inc-1"))
        assert c.block_by_policy(reason="unauthorized_access", incident_id="inc-1", decided_by=POLICY, request_id="r") is False
        assert c.take_pending() == []


class TestRecommendation:
    def test_a_recommendation_is_raised_once_per_incident(self):
        c = given()
        assert c.recommend_block(recommendation_id="rec-1", reason="abnormal_communication", incident_id="inc-1")
        assert not c.recommend_block(recommendation_id="rec-2", reason="abnormal_communication", incident_id="inc-1")
        assert types(c) == ["BlockRecommended"]

    def test_confirming_blocks_and_names_the_recommendation(self):
        c = given(BlockRecommended(**IDS, recommendation_id="rec-1", reason="abnormal_communication", incident_id="inc-1"))
        c.confirm_recommendation("rec-1", decided_by=SOC, request_id="r1")
        (event,) = c.take_pending()
        assert isinstance(event, ConnectionBlocked) and event.recommendation_id == "rec-1"
        assert c.status == "blocked"

    def test_a_rejected_recommendation_cannot_be_confirmed(self):
        c = given(
            BlockRecommended(**IDS, recommendation_id="rec-1", reason="abnormal_communication", incident_id="inc-1"),
            BlockRecommendationRejected(**IDS, recommendation_id="rec-1", decided_by=SOC),
        )
        with pytest.raises(Conflict, match="rejected"):
            c.confirm_recommendation("rec-1", decided_by=SOC, request_id="r1")


class TestRelease:
    def test_clearing_one_of_two_incidents_keeps_it_blocked(self):
        c = given(blocked("inc-1"), blocked("inc-2"))
        assert c.release("inc-1")
        (event,) = c.take_pending()
        assert event.still_blocking == ["inc-2"] and c.status == "blocked"

    def test_clearing_the_last_incident_awaits_approval(self):
        c = given(blocked("inc-1"), blocked("inc-2"), released("inc-1", ["inc-2"]))
        c.release("inc-2")
        assert c.status == "awaiting_approval"

    def test_clearing_an_incident_that_holds_nothing_does_nothing(self):
        c = given(blocked("inc-1"))
        assert not c.release("inc-9") and c.take_pending() == []


class TestApprove:
    def test_approval_before_clearing_says_which_incidents_are_open(self):
        c = given(blocked("inc-1"), blocked("inc-2"), released("inc-1", ["inc-2"]))
        with pytest.raises(Conflict, match="inc-2"):
            c.approve(party="utility", decided_by=SOC, note="", request_id="q")

    def test_both_parties_in_any_order_reconnect(self):
        c = given(blocked("inc-1"), released("inc-1"), approved("operator"))
        assert c.approve(party="utility", decided_by=SOC, note="ok", request_id="q1") is True
        assert types(c) == ["ReconnectionApproved", "ConnectionReconnected"]
        assert c.status == "active" and c.requests["q1"].action == "reconnect"

    def test_one_approval_does_not_reconnect(self):
        c = given(blocked("inc-1"), released("inc-1"))
        assert c.approve(party="operator", decided_by=STAFF, note="", request_id="q") is False
        assert c.status == "awaiting_approval"

    def test_the_same_party_cannot_approve_twice(self):
        with pytest.raises(Conflict, match="already approved"):
            given(blocked("inc-1"), released("inc-1"), approved("utility")).approve(
                party="utility", decided_by=SOC, note="", request_id="q"
            )

    def test_a_new_block_after_one_approval_resets_approvals(self):
        c = given(blocked("inc-1"), released("inc-1"), approved("utility"), blocked("inc-2"), released("inc-2"))
        assert c.approvals == {}
        assert c.approve(party="operator", decided_by=STAFF, note="", request_id="q") is False
        assert c.status == "awaiting_approval"

    def test_an_active_connection_has_nothing_to_approve(self):
        with pytest.raises(Conflict, match="not blocked"):
            given().approve(party="utility", decided_by=SOC, note="", request_id="q")


class TestCredentials:
    def test_a_leak_refuses_approval_until_the_secrets_are_rotated(self):
        c = given(blocked("inc-1"), CredentialsCompromised(**IDS, incident_id="leak-1"), released("inc-1"))
        with pytest.raises(Conflict, match="rotate"):
            c.approve(party="utility", decided_by=SOC, note="", request_id="q")
        c.rotate_secrets(SEALED)
        c.approve(party="utility", decided_by=SOC, note="", request_id="q")
        assert types(c) == ["SecretsRotated", "ReconnectionApproved"]

    def test_a_leak_is_recorded_once_per_incident_even_after_rotation(self):
        c = given(CredentialsCompromised(**IDS, incident_id="leak-1"), SecretsRotated(**IDS, secrets=SEALED))
        assert not c.compromised
        assert c.mark_compromised("leak-1") is False


class TestEnforcement:
    def test_an_acknowledged_block_is_recorded_once(self):
        c = given(blocked("inc-1", "r"))
        from datetime import datetime, timezone

        at = datetime.now(timezone.utc)
        assert c.enforced("r-inc-1", at=at)
        assert not c.enforced("r-inc-1", at=at)
        (event,) = c.take_pending()
        assert isinstance(event, BlockEnforced)

    def test_failures_count_attempts_and_escalation_happens_once(self):
        c = given(blocked("inc-1", "r"), BlockEnforcementFailed(**IDS, request_id="r-inc-1", attempt=1, error="503"))
        c.enforcement_failed("r-inc-1", error="timeout")
        assert c.take_pending()[0].attempt == 2
        c = given(blocked("inc-1", "r"), EnforcementEscalated(**IDS, request_id="r-inc-1", action="block", waited_seconds=9))
        assert not c.escalate("r-inc-1", waited_seconds=10)

    def test_the_reconnection_request_is_pending_until_acknowledged(self):
        c = given(blocked("inc-1"), released("inc-1"), approved("utility"), approved("operator"),
                  ConnectionReconnected(**IDS, request_id="q"))
        assert c.requests["q"].pending and c.requests["q"].action == "reconnect"


class TestVersionRange:
    def criteria(self, firmware: str | None, model: str | None = "X1") -> VulnerabilityCriteria:
        return VulnerabilityCriteria(asset_kind="special_meter", maker="M", model=model, firmware=Firmware(firmware))

    @pytest.mark.parametrize(
        "firmware, unit, expected",
        [
            (">=2.0,<2.3", "2.2.9", True),
            (">=2.0,<2.3", "2.3.0", False),
            (">=2.0,<2.3", "1.9", False),
            ("==2.1.*", "2.1.7", True),
            ("2.1.0", "2.1", True),
            ("2.1.0", "2.1.1", False),
            ("<3", "not-a-version", False),
            (None, "anything", True),
        ],
    )
    def test_firmware_is_matched_exactly_or_by_range(self, firmware, unit, expected):
        assert self.criteria(firmware).matches(kind="special_meter", maker="m", model="x1", firmware=unit) is expected

    def test_another_kind_or_model_does_not_match(self):
        assert not self.criteria(None).matches(kind="iot_route", maker="M", model="X1", firmware="1")
        assert not self.criteria(None).matches(kind="special_meter", maker="M", model="X2", firmware="1")

    def test_a_malformed_range_is_invalid(self):
        with pytest.raises(Invalid):
            Firmware(">=two")


class TestOperatorAndPolicy:
    def test_onboarding_twice_is_a_conflict(self):
        from datetime import date

        operator = Operator("op-a")
        operator.onboard(name="A", agreement_date=date(2025, 4, 1))
        with pytest.raises(Conflict):
            operator.onboard(name="A", agreement_date=date(2025, 4, 1))

    def test_a_partial_policy_change_keeps_the_other_reasons(self):
        policy = BlockPolicy()
        policy.change({"abnormal_communication": "auto"}, decided_by=SOC)
        (event,) = policy.take_pending()
        assert isinstance(event, BlockPolicyChanged)
        assert event.policy == {**DEFAULT_POLICY, "abnormal_communication": "auto"}

    def test_an_invalid_mode_is_refused(self):
        with pytest.raises(Invalid):
            BlockPolicy().change({"unauthorized_access": "sometimes"}, decided_by=SOC)


class TestSnapshotsAndBounds:
    def test_a_connection_restored_from_its_snapshot_decides_as_the_folded_one(self):
        c = given(blocked("inc-1"), released("inc-1"), approved("utility"))
        again = Connection.restore(CID, c.version, c.snapshot())
        assert again.snapshot() == c.snapshot() and again.status == "awaiting_approval"
        assert again.approve(party="operator", decided_by=STAFF, note="", request_id="q") is True

    def test_it_is_found_by_operator_meter_model_hold_and_pending_request(self):
        index = given(blocked("inc-1", "r")).index()
        assert index["operator"] == [OP] and index["meter"] == ["sm-1"] and index["hold"] == ["inc-1"]
        assert index["pending"] == ["1"] and index["request"] == ["r-inc-1"]
        assert "special_meter|m|x1" in index["model"] and "special_meter|*|*" in index["model"]

    def test_it_keeps_its_pending_requests_and_only_the_latest_finished_ones(self):
        from datetime import datetime, timezone

        history = []
        for n in range(FINISHED_KEPT + 5):
            incident = f"inc-{n}"
            history += [blocked(incident), BlockEnforced(**IDS, request_id=f"r-{incident}", enforced_at=datetime.now(timezone.utc))]
            history += [released(incident), approved("utility"), approved("operator"), ConnectionReconnected(**IDS, request_id=f"q{n}")]
        c = given(*history, blocked("inc-last"))
        finished = [r for r in c.requests.values() if not r.pending]
        pending = [r.request_id for r in c.requests.values() if r.pending]
        assert len(finished) == FINISHED_KEPT and finished[-1].request_id == f"r-inc-{FINISHED_KEPT + 4}"
        assert pending == [f"q{n}" for n in range(FINISHED_KEPT + 5)] + ["r-inc-last"]

    def test_it_remembers_the_latest_incidents_that_blocked_it_and_still_refuses_their_policy_block(self):
        history = [e for n in range(INCIDENTS_KEPT + 3) for e in (blocked(f"inc-{n}"), released(f"inc-{n}"))]
        c = given(*history)
        assert len(c.blocked_by_ever) == INCIDENTS_KEPT and "inc-0" not in c.blocked_by_ever
        assert not c.block_by_policy(reason="unauthorized_access", incident_id=f"inc-{INCIDENTS_KEPT + 2}", decided_by=POLICY, request_id="x")
