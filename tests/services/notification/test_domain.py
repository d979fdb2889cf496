"""Contacts and the notification lifecycle: given events, when a command, then events."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from shared.backoff import Backoff
from shared.domain import Conflict, Forbidden
from shared.events.contact import ContactChanged, ContactRegistered
from shared.events.notification import (
    NotificationAcknowledged,
    NotificationDelivered,
    NotificationEscalated,
    NotificationFailed,
    NotificationQueued,
    Recipient,
)
from shared.events.values import Actor
from shared.principal import Principal
from services.notification.domain.contacts import OperatorContacts, SetContact
from services.notification.domain.model import Notification, RetryPolicy
from tests.factories import FIXED_TIME

OPERATOR = Actor(kind="person", id="u", role="operator")
POLICY = RetryPolicy(max_attempts=3, backoff=Backoff(base=10, cap=15))
OPERATOR_STAFF = Principal(sub="operator:op-1", role="operator", operator_id="op-1")
TO = Recipient(kind="security_incident", operator_id="op-1", name="担当", email="si@op.example", webhook_url="https://op.example/hook")


def command(**changes):
    values = dict(operator_id="op-1", kind="applicant", name="山田 太郎", organisation="中部テック", email="yamada@op.example",
                  phone="052-000-0000", webhook_url=None, changed_by=OPERATOR)
    values.update(changes)
    return SetContact(**values)


class TestSetContact:
    def test_the_first_contact_of_a_kind_is_registered(self):
        contacts = OperatorContacts("op-1")
        contacts.set_contact(command())
        (event,) = contacts.take_pending()
        assert isinstance(event, ContactRegistered) and event.name == "山田 太郎" and event.changed_by == OPERATOR

    def test_a_later_difference_is_a_change_naming_the_changed_fields(self):
        contacts = OperatorContacts.rehydrate("op-1", [ContactRegistered(**vars_of(command()))])
        contacts.set_contact(command(email="new@op.example", phone="052-111-1111"))
        (event,) = contacts.take_pending()
        assert isinstance(event, ContactChanged) and event.changed_fields == ["email", "phone"]

    def test_the_same_contact_again_changes_nothing(self):
        contacts = OperatorContacts.rehydrate("op-1", [ContactRegistered(**vars_of(command()))])
        contacts.set_contact(command())
        assert contacts.take_pending() == []


def vars_of(cmd: SetContact) -> dict:
    return {**cmd.fields(), "operator_id": cmd.operator_id, "kind": cmd.kind, "changed_by": cmd.changed_by}


def queued(**changes) -> NotificationQueued:
    values = dict(notification_id="n-1", domain_event_id="e-1", domain_event_type="ConnectionBlocked", operator_id="op-1",
                  subject_id="c-1", route="utility_to_operator", channel="email", channels=["email", "webhook"], recipient=TO,
                  title="接続遮断 / Connection blocked")
    values.update(changes)
    return NotificationQueued(**values)


def given(*events) -> Notification:
    return Notification.rehydrate("n-1", [queued(), *events])


class TestDeliveryAttempt:
    def test_a_queued_notification_is_due_at_once(self):
        assert given().due_for_delivery(FIXED_TIME) and given().status == "queued"

    def test_channels_that_accept_are_delivered(self):
        notification = given()
        notification.record_attempt({"email": None, "webhook": None}, now=FIXED_TIME, policy=POLICY)
        events = notification.take_pending()
        assert [type(e) for e in events] == [NotificationDelivered, NotificationDelivered]
        assert notification.status == "delivered" and not notification.due_for_delivery(FIXED_TIME)

    def test_a_failure_is_retried_after_exponential_back_off(self):
        notification = given()
        notification.record_attempt({"email": None, "webhook": "HTTP 500"}, now=FIXED_TIME, policy=POLICY)
        failed = notification.take_pending()[-1]
        assert isinstance(failed, NotificationFailed) and failed.next_attempt_at == FIXED_TIME + timedelta(seconds=10)
        assert notification.pending_channels == ["webhook"] and notification.status == "failed"
        assert not notification.due_for_delivery(FIXED_TIME + timedelta(seconds=9))
        assert notification.due_for_delivery(FIXED_TIME + timedelta(seconds=10))

    def test_the_back_off_doubles_up_to_its_cap(self):
        assert [POLICY.delay(n).total_seconds() for n in (1, 2, 3)] == [10, 15, 15]

    def test_the_last_allowed_attempt_is_final(self):
        notification = given(
            NotificationFailed(notification_id="n-1", attempt=1, error="x"),
            NotificationFailed(notification_id="n-1", attempt=2, error="x"),
        )
        notification.record_attempt({"email": "refused", "webhook": None}, now=FIXED_TIME, policy=POLICY)
        failed = notification.take_pending()[-1]
        assert failed.final and failed.next_attempt_at is None and failed.attempt == 3
        assert not notification.due_for_delivery(FIXED_TIME + timedelta(days=1))


class TestAcknowledgeAndEscalate:
    def test_an_acknowledgement_is_recorded_once(self):
        notification = given()
        notification.acknowledge(OPERATOR_STAFF)
        notification.acknowledge(OPERATOR_STAFF)
        (event,) = notification.take_pending()
        assert isinstance(event, NotificationAcknowledged) and event.acknowledged_by == "operator:op-1"
        assert notification.status == "acknowledged"

    @pytest.mark.parametrize("role", ["utility_soc", "utility_desk", "auditor"])
    def test_only_the_operator_acknowledges_what_went_to_its_contacts(self, role):
        with pytest.raises(Forbidden):
            given().acknowledge(Principal(sub=role, role=role))
        with pytest.raises(Forbidden):
            given().acknowledge(Principal(sub="operator:op-2", role="operator", operator_id="op-2"))

    @pytest.mark.parametrize("role", ["utility_soc", "utility_desk"])
    def test_only_the_utility_acknowledges_what_went_to_its_desk(self, role):
        desk = Recipient(kind="utility_desk", name="desk", email="desk@utility.example")
        notification = Notification.rehydrate("n-1", [queued(recipient=desk, route="operator_to_utility")])
        for other in (OPERATOR_STAFF, Principal(sub="auditor", role="auditor")):
            with pytest.raises(Forbidden):
                notification.acknowledge(other)
        notification.acknowledge(Principal(sub=role, role=role))
        assert notification.acknowledged_by == role and len(notification.take_pending()) == 1

    def test_a_delivered_notification_escalates_when_not_acknowledged_in_time(self):
        notification = given(
            NotificationDelivered(notification_id="n-1", attempt=1, delivered_at=FIXED_TIME, channel="email"),
            NotificationDelivered(notification_id="n-1", attempt=1, delivered_at=FIXED_TIME, channel="webhook"),
        )
        timeout = timedelta(minutes=30)
        assert not notification.due_for_escalation(FIXED_TIME + timedelta(minutes=29), ack_timeout=timeout)
        assert notification.due_for_escalation(FIXED_TIME + timedelta(minutes=30), ack_timeout=timeout)

    def test_an_undeliverable_notification_escalates_at_once(self):
        notification = given(NotificationFailed(notification_id="n-1", attempt=3, error="x", final=True))
        assert notification.due_for_escalation(FIXED_TIME, ack_timeout=timedelta(hours=1))

    def test_an_acknowledged_or_escalation_notification_never_escalates(self):
        delivered = NotificationDelivered(notification_id="n-1", attempt=1, delivered_at=FIXED_TIME)
        acked = given(delivered, NotificationAcknowledged(notification_id="n-1", acknowledged_by="x"))
        escalation = Notification.rehydrate("n-1", [queued(channels=[], escalation_of="n-0"), delivered])
        later = FIXED_TIME + timedelta(days=9)
        assert not acked.due_for_escalation(later, ack_timeout=timedelta(0))
        assert not escalation.due_for_escalation(later, ack_timeout=timedelta(0))

    def test_escalation_is_recorded_once(self):
        notification = given()
        notification.escalate(TO, reason="not acknowledged", escalation_id="n-2")
        assert isinstance(notification.take_pending()[0], NotificationEscalated) and notification.status == "escalated"
        with pytest.raises(Conflict):
            notification.escalate(TO, reason="again", escalation_id="n-3")


class TestQueueAndSettle:
    def test_a_queued_notification_exists_and_is_not_settled(self):
        notification = Notification.queue(queued())
        assert notification.exists and not notification.settled and [type(e) for e in notification.pending] == [NotificationQueued]
        assert not Notification("n-0").exists

    def test_acknowledged_or_escalated_notifications_are_settled(self):
        acked = given(NotificationAcknowledged(notification_id="n-1", acknowledged_by="x"))
        escalated = given(NotificationEscalated(notification_id="n-1", escalated_to=TO, reason="r"))
        assert acked.settled and escalated.settled

    def test_an_escalation_is_settled_once_delivered_or_finally_failed_not_before(self):
        def escalation(*events):
            return Notification.rehydrate("n-1", [queued(channels=["email"], escalation_of="n-0"), *events])

        retrying = escalation(NotificationFailed(notification_id="n-1", attempt=1, error="x"))
        delivered = escalation(NotificationDelivered(notification_id="n-1", attempt=1, delivered_at=FIXED_TIME, channel="email"))
        failed = escalation(NotificationFailed(notification_id="n-1", attempt=3, error="x", final=True))
        assert not retrying.settled and delivered.settled and failed.settled


class TestState:
    def test_a_notification_restored_from_its_snapshot_is_the_one_folded_from_its_events(self):
        folded = given(
            NotificationDelivered(notification_id="n-1", attempt=1, delivered_at=FIXED_TIME, channel="email"),
            NotificationFailed(notification_id="n-1", attempt=1, error="HTTP 500", next_attempt_at=FIXED_TIME, channel="webhook"),
        )
        restored = Notification.restore("n-1", folded.version, json.loads(json.dumps(folded.snapshot())))
        assert restored.snapshot() == folded.snapshot() and restored.version == 3
        assert (restored.queued, restored.delivered, restored.pending_channels) == (queued(), {"email"}, ["webhook"])
        assert restored.due_for_delivery(FIXED_TIME) and restored.index() == {"unsettled": ["1"]}

    def test_only_a_notification_that_may_still_need_work_is_indexed_unsettled(self):
        acked = given(NotificationAcknowledged(notification_id="n-1", acknowledged_by="x"))
        assert given().index() == {"unsettled": ["1"]} and acked.index() == {} and Notification("n-0").index() == {}

    def test_contacts_restored_from_their_snapshot(self):
        contacts = OperatorContacts("op-1")
        contacts.set_contact(command())
        contacts.version = len(contacts.take_pending())
        restored = OperatorContacts.restore("op-1", 1, json.loads(json.dumps(contacts.snapshot())))
        assert restored.get("applicant") == command().fields() and restored.exists
