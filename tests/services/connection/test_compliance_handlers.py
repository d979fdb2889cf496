"""Part-5 handlers over the in-memory store with a fake clock: Japan's calendar day, the overdue check, reports."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from services.connection.application import compliance
from services.connection.application.handlers import onboard_operator
from services.connection.domain.commands import OnboardOperator, RecordAssessment, RecordTraining, ReportStatus, RequestStatus
from shared.domain import Invalid
from shared.eventstore import ConcurrencyError, Context
from shared.eventstore.memory import InMemoryEventStore
from shared.events.operator import ComplianceOverdue
from shared.metrics import COMPLIANCE_ITEMS, tally
from shared.principal import Principal
from tests.factories import FakeClock
from tests.services.connection.helpers import in_memory

OP = "op-handlers"
STAFF = Context(actor="operator:op-handlers", operator_id=OP)
SOC = Principal(sub="soc", role="utility_soc")


async def onboarded(tmp_path, on: date, now: datetime):  # type: ignore[no-untyped-def]
    """The service over an in-memory store with ``OP`` onboarded on ``on``, and its clock at ``now``."""
    clock = FakeClock(now)
    h = await in_memory(tmp_path, clock=clock)
    await onboard_operator(h.service, OnboardOperator(OP, "テスト事業者", on), context=STAFF)
    await h.sync()
    return h, clock


def overdue(store: InMemoryEventStore) -> list[tuple[str, date]]:
    return [(e.event.item, e.event.due_date) for e in store.published if isinstance(e.event, ComplianceOverdue)]


class TestToday:
    async def test_a_record_dated_today_in_japan_is_accepted_while_utc_is_still_on_the_day_before(self, tmp_path):
        h, _ = await onboarded(tmp_path, date(2025, 1, 1), datetime(2025, 4, 1, 16, 0, tzinfo=timezone.utc))  # 01:00 JST, 2 April
        await compliance.record_training(h.service, OP, RecordTraining(on=date(2025, 4, 2), kind="education", participants=5), context=STAFF)
        with pytest.raises(Invalid, match="future"):
            await compliance.record_training(h.service, OP, RecordTraining(on=date(2025, 4, 3), kind="education", participants=5), context=STAFF)


class TestOverdueCheck:
    async def test_the_check_flags_each_overdue_item_once_however_often_it_runs(self, tmp_path):
        h, clock = await onboarded(tmp_path, date(2024, 4, 1), datetime(2025, 4, 2, 3, 0, tzinfo=timezone.utc))
        assert {e.item for e in await compliance.check_overdue(h.service)} == {
            "risk_assessment", "training:education", "training:incident_drill",
        }
        clock.now = datetime(2025, 8, 1, tzinfo=timezone.utc)
        assert await compliance.check_overdue(h.service) == []
        assert sorted(overdue(h.service.store)) == [
            ("risk_assessment", date(2025, 4, 1)), ("training:education", date(2025, 4, 1)),
            ("training:incident_drill", date(2025, 4, 1)),
        ]
        assert h.service.store.seen(f"connection:compliance-overdue:{OP}:risk_assessment:2025-04-01")

    async def test_the_metrics_count_overdue_items_by_kind_until_they_are_recorded(self, tmp_path):
        h, _ = await onboarded(tmp_path, date(2024, 4, 1), datetime(2025, 4, 2, 3, 0, tzinfo=timezone.utc))
        counts = tally(compliance.overdue_by_kind(h.service), COMPLIANCE_ITEMS)
        assert counts == {("risk_assessment",): 1, ("training:education",): 1, ("training:incident_drill",): 1,
                          ("status_request",): 0}  # fmt: skip
        assessment = RecordAssessment(date(2025, 4, 2), "全社", "脆弱性診断", "問題なし", "完了")
        await compliance.record_assessment(h.service, OP, assessment, context=STAFF)
        await h.sync()
        assert tally(compliance.overdue_by_kind(h.service), COMPLIANCE_ITEMS)[("risk_assessment",)] == 0

    async def test_nothing_is_flagged_before_the_due_date_has_passed_in_japan(self, tmp_path):
        h, _ = await onboarded(tmp_path, date(2024, 4, 1), datetime(2025, 4, 1, 14, 59, tzinfo=timezone.utc))
        assert await compliance.flag_overdue(h.service, [OP]) == []  # 23:59 JST on the due date

    async def test_a_status_request_left_unanswered_past_its_reply_date_is_flagged(self, tmp_path):
        h, clock = await onboarded(tmp_path, date(2025, 4, 1), datetime(2025, 4, 10, tzinfo=timezone.utc))
        soc = Context(actor="soc", operator_id=OP)
        asked = await compliance.request_status(
            h.service, OP, RequestStatus(subject="運用状況", reply_by=date(2025, 4, 20)), by=SOC, context=soc
        )
        request_id = asked.events[0].request_id  # type: ignore[attr-defined]
        clock.now = datetime(2025, 4, 21, tzinfo=timezone.utc)
        flagged = await compliance.flag_overdue(h.service, [OP])
        assert [(e.item, e.due_date) for e in flagged] == [(f"status_request:{request_id}", date(2025, 4, 20))]
        await h.sync()
        assert compliance.compliance_standing(h.service, OP)["open_requests"][0]["overdue"] is True


class TestStatusReport:
    async def test_the_report_carries_the_records_as_they_stand_and_a_retry_answers_the_same(self, tmp_path):
        h, clock = await onboarded(tmp_path, date(2024, 4, 1), datetime(2025, 4, 10, tzinfo=timezone.utc))
        asked = await compliance.request_status(
            h.service, OP, RequestStatus(subject="運用状況", reply_by=date(2025, 4, 20)), by=SOC, context=STAFF
        )
        request_id = asked.events[0].request_id  # type: ignore[attr-defined]
        assessment = RecordAssessment(date(2025, 4, 5), scope="s", method="m", findings_summary="f", remediation_status="r")
        await compliance.record_assessment(h.service, OP, assessment, context=STAFF)
        answer = ReportStatus(request_id=request_id, summary="概ね良好")
        _, records = await compliance.report_status(h.service, OP, answer, context=STAFF, key="report-1")
        assert records["last_assessment"]["date"] == "2025-04-05"
        assert {i["item"] for i in records["overdue"]} == {"training:education", "training:incident_drill"}
        clock.now = datetime(2025, 6, 1, tzinfo=timezone.utc)
        assert (await compliance.report_status(h.service, OP, answer, context=STAFF, key="report-1"))[1] == records

    async def test_a_record_on_an_operator_that_moved_on_is_a_version_conflict(self, tmp_path):
        h, _ = await onboarded(tmp_path, date(2024, 4, 1), datetime(2025, 4, 10, tzinfo=timezone.utc))
        training = RecordTraining(on=date(2025, 4, 1), kind="education", participants=3)
        with pytest.raises(ConcurrencyError) as conflict:
            await compliance.record_training(h.service, OP, training, context=STAFF, expected_version=0)
        assert conflict.value.actual == 1
        saved = await compliance.record_training(h.service, OP, training, context=STAFF, expected_version=1)
        assert saved.version == 2
