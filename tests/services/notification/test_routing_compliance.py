"""The routing table for an operator's overdue yearly duty: the operator and the utility desk are both told."""

from __future__ import annotations

from datetime import date

from services.notification.domain.routing import routes_for
from shared.events.operator import ComplianceOverdue


def overdue() -> ComplianceOverdue:
    return ComplianceOverdue(operator_id="op-1", item="risk_assessment", due_date=date(2026, 11, 1))


class TestComplianceOverdue:
    def test_it_tells_the_operator_and_the_utility_desk(self):
        routes = routes_for(overdue(), event_id="e-1", operators=["op-1"])
        assert sorted((r.target, r.operator_id) for r in routes) == [("operator", "op-1"), ("utility_desk", "op-1")]

    def test_each_recipient_has_its_own_key_and_direction(self):
        routes = {r.target: r for r in routes_for(overdue(), event_id="e-1", operators=["op-1"])}
        assert routes["operator"].idempotency_key == "notify:e-1:operator:op-1"
        assert routes["utility_desk"].idempotency_key == "notify:e-1:utility_desk:op-1"
        assert (routes["operator"].direction, routes["utility_desk"].direction) == ("utility_to_operator", "operator_to_utility")

    def test_both_notices_carry_the_bilingual_title(self):
        titles = {(r.rule.title_ja, r.rule.title_en) for r in routes_for(overdue(), event_id="e-1", operators=["op-1"])}
        assert titles == {("維持・運用の期限超過", "Compliance overdue")}
