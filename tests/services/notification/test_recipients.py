"""Whom a notification reaches first, and whom it escalates to."""

from __future__ import annotations

from shared.events.values import Actor
from services.notification.domain.contacts import OperatorContacts, SetContact
from services.notification.domain.recipients import fallback, primary
from tests.services.notification.helpers import DESK

OPERATOR = Actor(kind="person", id="u", role="operator")


def contacts(*kinds: str) -> dict:
    """The operator's contacts by kind, as the aggregate keeps them and the contacts read model shows them."""
    aggregate = OperatorContacts("op-1")
    for kind in kinds:
        aggregate.set_contact(SetContact("op-1", kind, f"{kind}担当", "中部テック", f"{kind}@op.example", "052-000-0000", None, OPERATOR))
    return aggregate.contacts


class TestPrimary:
    def test_the_operator_is_reached_at_its_security_incident_contact(self):
        found = primary("operator", operator_id="op-1", contacts=contacts("applicant", "security_incident"), desk=DESK)
        assert (found.kind, found.email) == ("security_incident", "security_incident@op.example")

    def test_without_one_the_applicant_contact_is_used(self):
        found = primary("operator", operator_id="op-1", contacts=contacts("applicant"), desk=DESK)
        assert (found.kind, found.email) == ("applicant", "applicant@op.example")

    def test_without_any_contact_the_notification_has_no_address(self):
        found = primary("operator", operator_id="op-1", contacts=None, desk=DESK)
        assert found.email is None and found.operator_id == "op-1"

    def test_the_utility_is_always_reached_at_its_desk(self):
        assert primary("utility_desk", operator_id="op-1", contacts=contacts("applicant"), desk=DESK) == DESK.primary


class TestFallback:
    def test_the_security_incident_contact_falls_back_to_the_applicant(self):
        both = contacts("applicant", "security_incident")
        first = primary("operator", operator_id="op-1", contacts=both, desk=DESK)
        assert fallback(first, contacts=both, desk=DESK).kind == "applicant"

    def test_the_applicant_falls_back_to_a_security_incident_contact_registered_since(self):
        first = primary("operator", operator_id="op-1", contacts=contacts("applicant"), desk=DESK)
        assert fallback(first, contacts=contacts("applicant", "security_incident"), desk=DESK).kind == "security_incident"

    def test_an_operator_without_another_contact_falls_back_to_the_utilitys_fallback_desk(self):
        first = primary("operator", operator_id="op-1", contacts=contacts("applicant"), desk=DESK)
        assert fallback(first, contacts=contacts("applicant"), desk=DESK) == DESK.fallback

    def test_the_desk_falls_back_to_the_fallback_desk(self):
        assert fallback(DESK.primary, contacts=None, desk=DESK) == DESK.fallback
