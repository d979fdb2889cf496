"""Notices that scale with incidents, not meters: the coalescing rule, with no broker and no I/O.

Before it, a storm told an operator once per meter: 500 blocks of one operator for one incident queued
500 notifications; a vulnerability's 500 blocks queued one that named 1 of the 500 meters; an anomaly
storm over 500 meters queued 2,000 (incident opened, block, and the initial report overdue to both
sides, each once per meter). The aggregate's rules are tested on their own; the rule as the inbox
decides it, over the in-memory store, the read models and recording channels (``handler_service``).
"""

from __future__ import annotations

import json
import random
from datetime import timedelta

import pytest

from shared.backoff import Backoff
from shared.domain import Conflict
from shared.events.notification import (
    Coalescing,
    NoticeMember,
    NotificationExtended,
    NotificationFollowedUp,
    NotificationQueued,
)
from services.notification.application import delivery, handlers
from services.notification.domain.coalescing import MAX_LISTED, MEMBERS_PER_EVENT, STORM, Group, Pacing
from services.notification.domain.model import Notification, RetryPolicy
from services.notification.domain.routing import routes_for
from tests.factories import FIXED_TIME, connection_blocked, envelope, incident_opened, report_overdue, uid
from shared.events.notification import Recipient
from tests.services.notification.helpers import handler_service, inbox_record, notify, of_type, project, register

HOLD = timedelta(seconds=5)
POLICY = RetryPolicy(3, Backoff(10, 15))
TO = Recipient(kind="security_incident", operator_id="op-1", name="担当", email="si@op.example")


def members(n: int) -> list[NoticeMember]:
    return [NoticeMember(event_id=f"e-{i}", connection_id=f"c-{i}", incident_id="inc-1") for i in range(n)]


def notice(n: int, *, hold: timedelta = HOLD) -> Notification:
    """A coalesced notice queued with ``n`` members at FIXED_TIME, its text saying how many it lists."""
    given = members(n)
    first = given[:MEMBERS_PER_EVENT]
    coalescing = Coalescing(group="group:blocked:inc-1:operator:op-1", members=first, first_at=FIXED_TIME,
                            hold_until=FIXED_TIME + hold, head_subject="s", head_body="b")  # fmt: skip
    queued = NotificationQueued(
        notification_id="n-1", domain_event_id="e-0", domain_event_type="ConnectionBlocked", operator_id="op-1",
        route="utility_to_operator", channel="email", channels=["email"], recipient=TO, title="t",
        message_subject=f"s {len(first)}", coalescing=coalescing,
    )  # fmt: skip
    return Notification.queue(queued, more=given[len(first):], render=lambda g: (f"s {g.count}", f"{len(g.listed)} of {g.count}"))


class TestTheNotice:
    def test_a_storm_of_members_is_one_notice_listing_the_first_fifty_and_counting_all(self):
        storm = notice(250)
        events = storm.take_pending()
        assert [type(e) for e in events] == [NotificationQueued, NotificationExtended, NotificationExtended]
        assert [e.member_count for e in events[1:]] == [200, 250] and sum(len(e.members) for e in events[1:]) == 150
        assert storm.group is not None and storm.group.count == 250 and len(storm.group.listed) == MAX_LISTED
        assert (storm.message_subject, storm.message_body) == ("s 250", f"{MAX_LISTED} of 250")

    def test_members_join_while_it_is_held_and_not_once_its_hold_has_passed(self):
        storm = notice(1)
        storm.add_members(members(2)[1:], now=FIXED_TIME + timedelta(seconds=4), render=lambda g: ("s", "b"))
        assert storm.group is not None and storm.group.count == 2
        with pytest.raises(Conflict):
            storm.add_members(members(3)[2:], now=FIXED_TIME + HOLD, render=lambda g: ("s", "b"))

    def test_it_goes_out_when_its_hold_has_passed_and_takes_no_member_after_an_attempt(self):
        storm = notice(3)
        assert not storm.due_for_delivery(FIXED_TIME + timedelta(seconds=4)) and storm.due_for_delivery(FIXED_TIME + HOLD)
        storm.record_attempt({"email": "refused"}, now=FIXED_TIME + HOLD, policy=POLICY)
        assert not storm.open_for_members(FIXED_TIME)  # even were the clock to go back

    def test_it_is_found_by_its_group_until_a_digest_follows_it(self):
        storm = notice(3)
        assert storm.index()["group"] == ["group:blocked:inc-1:operator:op-1"]
        storm.follow_up("n-2")
        assert "group" not in storm.index() and isinstance(storm.pending[-1], NotificationFollowedUp)
        with pytest.raises(Conflict):
            storm.follow_up("n-3")

    def test_the_time_to_acknowledge_runs_from_its_first_member_as_a_notice_of_its_own_would(self):
        storm = notice(3, hold=timedelta(minutes=1))
        storm.record_attempt({"email": None}, now=FIXED_TIME + timedelta(minutes=1), policy=POLICY)
        timeout = timedelta(minutes=30)
        assert not storm.due_for_escalation(FIXED_TIME + timedelta(minutes=29, seconds=59), ack_timeout=timeout)
        assert storm.due_for_escalation(FIXED_TIME + timedelta(minutes=30), ack_timeout=timeout)

    def test_the_earliest_deadline_of_all_its_members_is_kept(self):
        group = Group("g", FIXED_TIME, FIXED_TIME, "s", "b")
        later, earlier = FIXED_TIME + timedelta(days=2), FIXED_TIME + timedelta(days=1)
        group.join([NoticeMember(event_id="a", due_at=later)])
        group.join([NoticeMember(event_id="b"), NoticeMember(event_id="c", due_at=earlier)])
        assert group.earliest_due == earlier and group.joined([NoticeMember(event_id="d")]).count == 4 and group.count == 3

    def test_a_notice_restored_from_its_snapshot_is_the_one_folded_from_its_events(self):
        folded = notice(120)
        folded.version = len(folded.take_pending())
        restored = Notification.restore("n-1", folded.version, json.loads(json.dumps(folded.snapshot())))
        assert restored.snapshot() == folded.snapshot() and restored.group == folded.group
        assert restored.message_body == folded.message_body and restored.index() == folded.index()

    def test_a_digest_waits_at_least_the_digest_interval_after_the_notice_before_it(self):
        pacing = Pacing(hold=HOLD, digest=timedelta(seconds=60))
        assert pacing.first(FIXED_TIME) == FIXED_TIME + HOLD
        assert pacing.next(FIXED_TIME + timedelta(seconds=10), FIXED_TIME + HOLD) == FIXED_TIME + timedelta(seconds=65)
        assert pacing.next(FIXED_TIME + timedelta(hours=1), FIXED_TIME + HOLD) == FIXED_TIME + timedelta(hours=1) + HOLD


class TestGroups:
    def group(self, event, incident=None) -> str | None:
        (route,) = routes_for(event, event_id=uid("e"), operators=[event.operator_id], incident=incident)
        return route.group

    def test_blocks_of_one_incident_group_per_operator_and_a_second_incident_apart(self):
        first, second = uid("inc"), uid("inc")
        assert self.group(connection_blocked("c-1", "op-1", first)) == self.group(connection_blocked("c-2", "op-1", first))
        assert self.group(connection_blocked("c-3", "op-1", second)) != self.group(connection_blocked("c-1", "op-1", first))
        assert self.group(connection_blocked("c-4", "op-2", first)) != self.group(connection_blocked("c-1", "op-1", first))

    def test_the_incidents_anomalies_opened_one_per_meter_group_as_one_storm_per_operator(self):
        storm = {"origin": "anomaly"}
        groups = {self.group(connection_blocked(uid("c"), "op-1", uid("inc")), incident=storm) for _ in range(3)}
        opened = {self.group(incident_opened(uid("inc"), "op-1", origin="anomaly", connection_id=uid("c"))) for _ in range(3)}
        assert len(groups) == len(opened) == 1 and STORM in groups.pop() and groups != opened

    def test_an_incident_a_party_reported_is_told_on_its_own(self):
        assert self.group(incident_opened(uid("inc"), "op-1")) is None


async def storm(service, n: int, *, operator: str = "op-1", incident: str | None = None) -> list[str]:
    """``n`` connections of the operator blocked for one incident, each routed and decided as the inbox would."""
    incident, connections = incident or uid("inc"), [uid("conn") for _ in range(n)]
    for connection in connections:
        await notify(service, envelope(connection_blocked(connection, operator, incident), connection))
    return connections


def notices(service, operator: str = "op-1") -> list[Notification]:
    """The operator's block notices as the store holds them now."""
    found = [e.notification_id for e in of_type(service, NotificationQueued) if e.operator_id == operator and e.coalescing]
    return [service.notifications.load(n) for n in found]


def told(service, notification: Notification) -> list[str | None]:
    """Every connection a notice tells of, as its events record them."""
    return [m.connection_id for e in service.store.published if e.subject == notification.id  # type: ignore[attr-defined]
            for m in (e.event.coalescing.members if isinstance(e.event, NotificationQueued) else getattr(e.event, "members", []))]


class TestTheRule:
    async def test_a_storm_of_500_blocks_for_one_incident_is_one_notice_listing_every_meter(self):
        service = handler_service(notice_hold_seconds=5)
        await register(service, "security_incident")
        connections = await storm(service, 500)
        (one,) = notices(service)
        assert told(service, one) == connections and one.group is not None and one.group.count == 500
        assert "(全500件 / 500 in all)" in one.message_subject and "… ほか 450 件 / and 450 more" in one.message_body
        assert all(c in one.message_body for c in connections[:MAX_LISTED]) and connections[MAX_LISTED] not in one.message_body
        await project(service)
        page = service.views.members(one.id, offset=0, limit=500)
        assert [m["connection_id"] for m in page[0]] == connections and page[1] == 500

    async def test_one_inbox_batch_of_a_storm_is_one_append(self):
        service = handler_service(notice_hold_seconds=5)
        await register(service, "security_incident")
        incident = uid("inc")
        events = [envelope(connection_blocked(c, "op-1", incident), c) for c in (uid("conn") for _ in range(250))]
        for event in events:
            await service.knowledge.apply(event, resume_at=0)
        commands = [c for e in events for c in handlers.route(service, e)]
        (saved,) = await handlers.queue(service, commands, inbox=inbox_record(service))
        assert [type(e) for e in saved.events] == [NotificationQueued, NotificationExtended, NotificationExtended]
        assert all(service.store.seen(c.key) for c in commands)

    async def test_a_second_incident_is_a_notice_of_its_own(self):
        service = handler_service(notice_hold_seconds=5)
        await register(service, "security_incident")
        first, second = await storm(service, 3), await storm(service, 2)
        assert sorted(told(service, n) for n in notices(service)) == sorted([first, second])

    async def test_two_operators_get_a_notice_each_listing_only_their_own_meters(self):
        service = handler_service(notice_hold_seconds=5)
        incident = uid("inc")
        mine, theirs = await storm(service, 3, incident=incident), await storm(service, 2, operator="op-2", incident=incident)
        ((one,), (other,)) = notices(service), notices(service, "op-2")
        assert told(service, one) == mine and told(service, other) == theirs
        assert not any(c in one.message_body for c in theirs) and not any(c in other.message_body for c in mine)

    async def test_a_block_delivered_again_changes_nothing(self):
        service = handler_service(notice_hold_seconds=5)
        await register(service, "security_incident")
        incident, connection = uid("inc"), uid("conn")
        event = envelope(connection_blocked(connection, "op-1", incident), connection)
        await notify(service, event)
        before = len(service.store.published)
        assert await notify(service, event) == [] and len(service.store.published) == before

    async def test_a_meter_after_the_notice_went_out_waits_for_one_digest(self):
        service = handler_service(notice_hold_seconds=5, notice_digest_seconds=60)
        await register(service, "security_incident")
        incident = uid("inc")
        first = await storm(service, 2, incident=incident)
        service.clock.advance(seconds=5)
        await delivery.dispatch(service)
        later = await storm(service, 3, incident=incident)
        sent = service.senders["email"].sent
        (one, digest) = notices(service)
        assert len(sent) == 1 and told(service, one) == first and told(service, digest) == later
        assert one.group.followed_by == digest.id and digest.group.digest_of == one.id  # type: ignore[union-attr]
        assert "続報 / Follow-up" in digest.message_subject and one.id in digest.message_body
        service.clock.advance(seconds=59)
        await delivery.dispatch(service)
        assert len(sent) == 1  # no sooner than a minute after the notice before it
        service.clock.advance(seconds=1)
        await delivery.dispatch(service)
        assert len(sent) == 2 and all(c in sent[1].body for c in later) and not any(c in sent[1].body for c in first)

    async def test_an_anomaly_storm_is_one_notice_per_kind_not_four_per_meter(self):
        service = handler_service(notice_hold_seconds=5)
        await register(service, "security_incident")
        for _ in range(20):
            connection, incident = uid("conn"), uid("inc")
            await notify(service, envelope(incident_opened(incident, "op-1", origin="anomaly", connection_id=connection), incident))
            await notify(service, envelope(connection_blocked(connection, "op-1", incident), connection))
            overdue = report_overdue(incident).model_copy(update={"operator_id": "op-1"})
            await notify(service, envelope(overdue, incident))
        kinds = sorted((e.domain_event_type, e.recipient.kind) for e in of_type(service, NotificationQueued) if e.coalescing)
        assert len(kinds) == 4 and all(n.group.count == 20 for n in notices(service))  # type: ignore[union-attr]
        desk = [n for n in notices(service) if n.queued.recipient.kind == "utility_desk"]  # type: ignore[union-attr]
        assert len(desk) == 1 and "最も早い期限 / Earliest deadline" in desk[0].message_body

    async def test_an_escalation_is_one_per_coalesced_notice(self):
        service = handler_service(notice_hold_seconds=5)
        await register(service, "applicant", "app@op.example")
        await register(service, "security_incident")
        connections = await storm(service, 30)
        service.clock.advance(seconds=5)
        await delivery.dispatch(service)
        service.clock.advance(minutes=30)
        await delivery.dispatch(service)
        await delivery.dispatch(service)
        sent = service.senders["email"].sent
        assert [m.recipient.email for m in sent] == ["si@op.example", "app@op.example"]
        assert all(c in sent[1].body for c in connections)

    async def test_every_meter_is_in_exactly_one_notice_to_its_own_operator_whatever_the_timing(self):
        service = handler_service(notice_hold_seconds=5, notice_digest_seconds=60)
        await register(service, "security_incident")
        pace = random.Random(15)
        incidents = {"op-1": [uid("inc"), uid("inc")], "op-2": [uid("inc")]}
        blocked: dict[str, list[str]] = {"op-1": [], "op-2": []}
        for _ in range(300):
            operator = pace.choice(["op-1", "op-1", "op-2"])
            connection = uid("conn")
            event = envelope(connection_blocked(connection, operator, pace.choice(incidents[operator])), connection)
            await notify(service, event)
            if pace.random() < 0.1:
                await notify(service, event)  # delivered again
            blocked[operator].append(connection)
            service.clock.advance(seconds=pace.choice([0, 0, 1, 7, 30]))
            if pace.random() < 0.3:
                await delivery.dispatch(service)
        for operator, connections in blocked.items():
            told_of = [c for n in notices(service, operator) for c in told(service, n)]
            assert sorted(told_of) == sorted(connections)  # each once, none lost, none of another operator
