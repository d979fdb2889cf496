"""Part-5 handlers over the in-memory store with a fake clock: Japan's calendar day, the overdue check."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from services.connection.application.compliance import ComplianceHandlers, ComplianceWatch
from services.connection.domain.operator import Operator
from shared.domain import Invalid
from shared.eventstore import Context
from shared.eventstore.memory import InMemoryEventStore
from shared.events.operator import ComplianceOverdue
from shared.events.values import Actor

OP = "op-handlers"
STAFF = Context(actor="operator:op-handlers", operator_id=OP)


class FakeClock:
    """A clock the test moves."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def onboarded(store: InMemoryEventStore, on: date) -> None:
    operator = Operator(OP)
    operator.onboard(name="テスト事業者", agreement_date=on)
    await store.append(OP, operator.take_pending(), expected_version=0, context=STAFF)


def overdue(store: InMemoryEventStore) -> list[tuple[str, date]]:
    return [(e.event.item, e.event.due_date) for e in store.published if isinstance(e.event, ComplianceOverdue)]


class TestToday:
    async def test_a_record_dated_today_in_japan_is_accepted_while_utc_is_still_on_the_day_before(self):
        store, clock = InMemoryEventStore(), FakeClock(datetime(2025, 4, 1, 16, 0, tzinfo=timezone.utc))  # 01:00 JST on 2 April
        handlers = ComplianceHandlers(store=store, clock=clock)
        await onboarded(store, date(2025, 1, 1))
        await handlers.record_training(OP, on=date(2025, 4, 2), kind="education", participants=5, context=STAFF, key=None)
        with pytest.raises(Invalid, match="future"):
            await handlers.record_training(OP, on=date(2025, 4, 3), kind="education", participants=5, context=STAFF, key=None)


class TestOverdueCheck:
    async def test_the_check_flags_each_overdue_item_once_however_often_it_runs(self):
        store, clock = InMemoryEventStore(), FakeClock(datetime(2025, 4, 2, 3, 0, tzinfo=timezone.utc))
        handlers = ComplianceHandlers(store=store, clock=clock)
        await onboarded(store, date(2024, 4, 1))
        watch = ComplianceWatch(handlers, lambda: [OP], period=3600)
        assert {e.item for e in await watch.check()} == {
            "risk_assessment", "training:education", "training:incident_drill",
        }
        clock.now = datetime(2025, 8, 1, tzinfo=timezone.utc)
        assert await watch.check() == []
        assert sorted(overdue(store)) == [
            ("risk_assessment", date(2025, 4, 1)), ("training:education", date(2025, 4, 1)),
            ("training:incident_drill", date(2025, 4, 1)),
        ]
        assert store.seen(f"connection:compliance-overdue:{OP}:risk_assessment:2025-04-01")

    async def test_nothing_is_flagged_before_the_due_date_has_passed_in_japan(self):
        store = InMemoryEventStore()
        handlers = ComplianceHandlers(store=store, clock=FakeClock(datetime(2025, 4, 1, 14, 59, tzinfo=timezone.utc)))
        await onboarded(store, date(2024, 4, 1))
        assert await handlers.flag_overdue([OP]) == []  # 23:59 JST on the due date

    async def test_a_status_request_left_unanswered_past_its_reply_date_is_flagged(self):
        store, clock = InMemoryEventStore(), FakeClock(datetime(2025, 4, 10, tzinfo=timezone.utc))
        handlers = ComplianceHandlers(store=store, clock=clock)
        await onboarded(store, date(2025, 4, 1))
        soc = Context(actor="soc", operator_id=OP)
        request_id = await handlers.request_status(
            OP, subject="運用状況", reply_by=date(2025, 4, 20), decided_by=Actor(kind="person", id="soc"), context=soc, key=None
        )
        clock.now = datetime(2025, 4, 21, tzinfo=timezone.utc)
        flagged = await handlers.flag_overdue([OP])
        assert [(e.item, e.due_date) for e in flagged] == [(f"status_request:{request_id}", date(2025, 4, 20))]
        standing = handlers.standing(OP)
        assert standing["open_requests"][0]["overdue"] is True
