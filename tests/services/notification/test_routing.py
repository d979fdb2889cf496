"""The routing table: who is told of which event, and under which idempotency key."""

from __future__ import annotations

from datetime import date, datetime, timezone

from tests.factories import SOC, uid
from tests.services.notification.helpers import blocked, report
from shared.events.connection import BlockRecommended, ConnectionReconnected, ReconnectionApproved
from shared.events.contact import ContactChanged
from shared.events.incident import IncidentCleared, IncidentOpened, ReportOverdue
from shared.events.operator import StatusRequested
from shared.events.values import Actor
from services.notification.domain.routing import RULES, routes_for

NOW = datetime(2026, 11, 26, tzinfo=timezone.utc)


def targets(event, operators=("op-1",)):
    return [(r.target, r.operator_id) for r in routes_for(event, event_id="e-1", operators=list(operators))]


class TestUtilityToOperator:
    def test_a_connection_block_tells_the_operator(self):
        assert targets(blocked("op-1")) == [("operator", "op-1")]

    def test_an_incident_opened_by_the_utility_tells_every_operator_concerned(self):
        event = IncidentOpened(incident_id="i", category="security_incident", severity="high", title="t",
                               detected_at=NOW, opened_by="utility")
        assert targets(event, ["op-1", "op-2"]) == [("operator", "op-1"), ("operator", "op-2")]

    def test_a_report_from_the_utility_goes_to_the_operator(self):
        assert targets(report("i", direction="utility_to_operator")) == [("operator", "op-1")]

    def test_the_utilitys_approval_asks_the_operator_for_its_own(self):
        event = ReconnectionApproved(connection_id="c", operator_id="op-1", party="utility", decided_by=SOC)
        assert targets(event) == [("operator", "op-1")]

    def test_reconnection_and_status_requests_tell_the_operator(self):
        events = [
            ConnectionReconnected(connection_id="c", operator_id="op-1", request_id="r"),
            StatusRequested(operator_id="op-1", request_id="r", subject="年次報告", reply_by=date(2026, 12, 1)),
        ]
        assert all(targets(e) == [("operator", "op-1")] for e in events)

    def test_a_contact_changed_by_the_utility_tells_the_operator(self):
        event = ContactChanged(operator_id="op-1", kind="applicant", name="n", organisation="o", email="a@b.jp",
                               phone="1", changed_by=SOC)
        assert targets(event) == [("operator", "op-1")]


class TestOperatorToUtility:
    def test_an_operators_report_goes_to_the_desk(self):
        assert targets(report("i")) == [("utility_desk", "op-1")]

    def test_an_incident_cleared_by_the_operator_tells_the_desk(self):
        event = IncidentCleared(incident_id="i", summary="s", cleared_by="operator", operator_id="op-1")
        assert targets(event) == [("utility_desk", "op-1")]

    def test_a_block_recommendation_goes_to_the_desk(self):
        event = BlockRecommended(connection_id="c", operator_id="op-1", recommendation_id="r", reason="abnormal_communication", incident_id="i")
        assert targets(event) == [("utility_desk", "op-1")]

    def test_a_contact_changed_by_the_operator_tells_the_desk(self):
        operator = Actor(kind="person", id="op-user", role="operator")
        event = ContactChanged(operator_id="op-1", kind="applicant", name="n", organisation="o", email="a@b.jp",
                               phone="1", changed_by=operator)
        assert targets(event) == [("utility_desk", "op-1")]

    def test_an_overdue_report_tells_the_desk_and_the_operator(self):
        event = ReportOverdue(incident_id="i", part="initial", due_at=NOW, operator_id="op-1")
        assert sorted(targets(event)) == [("operator", "op-1"), ("utility_desk", "op-1")]


class TestKeys:
    def test_the_key_names_the_event_the_target_and_the_operator(self):
        (route,) = routes_for(blocked("op-1"), event_id="e-9", operators=["op-1"])
        assert route.idempotency_key == "notify:e-9:operator:op-1"

    def test_blocks_for_one_vulnerability_have_a_key_each_and_one_group_per_operator(self):
        incident = uid("inc")
        routes = [
            routes_for(blocked(op, reason="serious_vulnerability", incident_id=incident), event_id=uid("e"), operators=[op])[0]
            for op in ("op-1", "op-1", "op-1", "op-2")
        ]
        assert len({r.idempotency_key for r in routes}) == 4  # each block is told: none is lost to a shared key
        assert [r.group for r in routes] == [f"group:blocked-vulnerability:{incident}:operator:op-1"] * 3 + [
            f"group:blocked-vulnerability:{incident}:operator:op-2"
        ]

    def test_an_incident_opened_for_a_vulnerability_waits_for_the_blocks(self):
        event = IncidentOpened(incident_id="i", category="vulnerability", severity="critical", title="t",
                               detected_at=NOW, opened_by="utility", origin="vulnerability")
        assert targets(event) == []


def test_every_rule_has_a_title_in_both_languages():
    assert all(rule.title_ja and rule.title_en and rule.title_ja != rule.title_en for rule in RULES)
