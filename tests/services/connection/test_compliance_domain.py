"""Part 5 on the Operator aggregate: given events / when a command on a day / then events or an error."""

from __future__ import annotations

from datetime import date

import pytest

from services.connection.domain.compliance import one_year_after
from services.connection.domain.operator import Operator
from services.connection.projections.standing import report_records, standing
from shared.domain import Conflict, Invalid, NotFound
from shared.events import DomainEvent
from shared.events.operator import (
    LeakageControlsAttested,
    OperatorOnboarded,
    RiskAssessmentRecorded,
    StatusReported,
    StatusRequested,
    TrainingRecorded,
)
from shared.events.values import Actor

OP = "op-a"
SOC = Actor(kind="person", id="soc", role="utility_soc")
DUTIES = {"risk_assessment", "training:education", "training:incident_drill"}


def onboarded(on: date = date(2024, 4, 1)) -> OperatorOnboarded:
    return OperatorOnboarded(operator_id=OP, name="中部テスト電力サービス", agreement_date=on)


def assessed(on: date, ident: str = "ra-1") -> RiskAssessmentRecorded:
    return RiskAssessmentRecorded(
        operator_id=OP, assessment_id=ident, date=on, scope="特例計量器と外部サーバ", method="脆弱性診断",
        findings_summary="重大な指摘なし", remediation_status="完了",
    )


def trained(on: date, kind: str = "education") -> TrainingRecorded:
    return TrainingRecorded(operator_id=OP, training_id=f"tr-{kind}-{on}", date=on, kind=kind, participants=12)  # type: ignore[arg-type]


def requested(ident: str, reply_by: date) -> StatusRequested:
    return StatusRequested(operator_id=OP, request_id=ident, subject="運用状況の提示", reply_by=reply_by, decided_by=SOC)


def given(*events: DomainEvent) -> Operator:
    return Operator.rehydrate(OP, events)


def overdue_items(operator: Operator, today: date) -> dict[str, date]:
    return {e.item: e.due_date for e in operator.flag_overdue(today)}


class TestOneYearAfter:
    def test_an_ordinary_day_is_due_on_the_same_day_next_year(self):
        assert one_year_after(date(2024, 4, 1)) == date(2025, 4, 1)

    def test_29_february_is_due_on_28_february_of_a_non_leap_year(self):
        assert one_year_after(date(2024, 2, 29)) == date(2025, 2, 28)

    def test_a_year_that_spans_a_leap_day_keeps_the_calendar_day(self):
        assert one_year_after(date(2023, 3, 1)) == date(2024, 3, 1)
        assert one_year_after(date(2023, 2, 28)) == date(2024, 2, 28)


class TestDueDates:
    def test_an_operator_without_records_owes_every_duty_a_year_after_its_agreement(self):
        operator = given(onboarded(date(2024, 4, 1)))
        assert {i.item: i.due_date for i in operator.due_items()} == {item: date(2025, 4, 1) for item in DUTIES}

    def test_a_duty_is_due_a_year_after_its_last_record(self):
        operator = given(onboarded(date(2024, 4, 1)), assessed(date(2024, 10, 15)), trained(date(2024, 6, 3), "incident_drill"))
        due = {i.item: i.due_date for i in operator.due_items()}
        assert due["risk_assessment"] == date(2025, 10, 15)
        assert due["training:incident_drill"] == date(2025, 6, 3)
        assert due["training:education"] == date(2025, 4, 1)

    def test_the_latest_dated_record_counts_even_when_an_older_one_is_recorded_after_it(self):
        operator = given(onboarded(), assessed(date(2024, 9, 1), "new"), assessed(date(2024, 5, 1), "old-late-entry"))
        assert operator.last_assessment.assessment_id == "new"  # type: ignore[union-attr]

    def test_an_assessment_done_on_a_leap_day_is_due_on_28_february(self):
        assert "risk_assessment" not in overdue_items(given(onboarded(date(2023, 4, 1)), assessed(date(2024, 2, 29))), date(2025, 2, 28))
        later = overdue_items(given(onboarded(date(2023, 4, 1)), assessed(date(2024, 2, 29))), date(2025, 3, 1))
        assert later["risk_assessment"] == date(2025, 2, 28)

    def test_an_agreement_signed_on_a_leap_day_is_due_on_28_february(self):
        operator = given(onboarded(date(2024, 2, 29)))
        assert overdue_items(operator, date(2025, 3, 1)) == {item: date(2025, 2, 28) for item in DUTIES}


class TestFlagOverdue:
    def test_nothing_is_overdue_on_the_due_date_itself(self):
        assert given(onboarded(date(2024, 4, 1))).flag_overdue(date(2025, 4, 1)) == []

    def test_every_duty_never_done_is_overdue_the_day_after(self):
        events = given(onboarded(date(2024, 4, 1))).flag_overdue(date(2025, 4, 2))
        assert {e.item for e in events} == DUTIES
        assert all(e.last_done is None and e.detected_on == date(2025, 4, 2) for e in events)

    def test_an_item_is_flagged_once_for_its_due_date(self):
        first = given(onboarded(date(2024, 4, 1))).flag_overdue(date(2025, 4, 2))
        later = given(onboarded(date(2024, 4, 1)), *first).flag_overdue(date(2025, 6, 30))
        assert later == []

    def test_a_new_record_moves_the_due_date_and_its_lapse_is_flagged_again(self):
        flagged = given(onboarded(date(2024, 4, 1))).flag_overdue(date(2025, 4, 2))
        operator = given(onboarded(date(2024, 4, 1)), *flagged, assessed(date(2025, 4, 10)))
        assert operator.flag_overdue(date(2026, 4, 10)) == []
        again = given(onboarded(date(2024, 4, 1)), *flagged, assessed(date(2025, 4, 10))).flag_overdue(date(2026, 4, 11))
        assert [(e.item, e.due_date, e.last_done) for e in again] == [("risk_assessment", date(2026, 4, 10), date(2025, 4, 10))]

    def test_an_unanswered_status_request_is_overdue_after_its_reply_date(self):
        operator = given(onboarded(date(2025, 4, 1)), requested("req-1", date(2025, 5, 1)))
        assert overdue_items(operator, date(2025, 5, 1)) == {}
        operator = given(onboarded(date(2025, 4, 1)), requested("req-1", date(2025, 5, 1)))
        assert overdue_items(operator, date(2025, 5, 2)) == {"status_request:req-1": date(2025, 5, 1)}

    def test_an_answered_status_request_is_never_overdue(self):
        answered = StatusReported(operator_id=OP, request_id="req-1", summary="問題なし")
        operator = given(onboarded(date(2025, 4, 1)), requested("req-1", date(2025, 5, 1)), answered)
        assert overdue_items(operator, date(2025, 6, 1)) == {}


class TestRecords:
    def test_a_record_dated_in_the_future_is_refused(self):
        operator = given(onboarded())
        with pytest.raises(Invalid, match="future"):
            operator.record_training(training_id="t", on=date(2025, 5, 2), kind="education", participants=3, today=date(2025, 5, 1))
        with pytest.raises(Invalid, match="future"):
            operator.record_assessment(assessment_id="a", on=date(2025, 5, 2), today=date(2025, 5, 1), scope="s", method="m", findings_summary="f", remediation_status="r")
        assert operator.take_pending() == []

    def test_a_record_dated_today_is_recorded(self):
        operator = given(onboarded())
        operator.record_training(training_id="t", on=date(2025, 5, 1), kind="incident_drill", participants=3, today=date(2025, 5, 1))
        assert [type(e) for e in operator.take_pending()] == [TrainingRecorded]

    def test_an_operator_not_onboarded_has_no_records(self):
        with pytest.raises(NotFound):
            given().record_training(training_id="t", on=date(2025, 5, 1), kind="education", participants=1, today=date(2025, 5, 1))


class TestLeakageControls:
    def test_the_latest_dated_attestation_is_in_force_and_says_what_it_leaves_uncovered(self):
        older = LeakageControlsAttested(operator_id=OP, date=date(2025, 3, 1), controls=["暗号化"], attested_by="山田", coverage={})
        newer = LeakageControlsAttested(
            operator_id=OP, date=date(2025, 4, 1), controls=["HSM保管", "アクセス制御"], attested_by="佐藤",
            coverage={"password": ["HSM保管"], "auth_id": ["アクセス制御"], "pairing_id": ["HSM保管"]},
        )
        view = standing(given(onboarded(), newer, older), date(2025, 4, 2), within_days=30)
        assert view["leakage_controls"]["attested_by"] == "佐藤"
        assert view["leakage_controls"]["uncovered"] == ["special_meter_id"]

    def test_coverage_may_only_name_attested_controls_and_known_information(self):
        operator = given(onboarded())
        with pytest.raises(Invalid, match="not in controls"):
            operator.attest_leakage_controls(on=date(2025, 4, 1), controls=["a"], attested_by="x", coverage={"password": ["b"]}, today=date(2025, 4, 1))
        with pytest.raises(Invalid, match="unknown information"):
            operator.attest_leakage_controls(on=date(2025, 4, 1), controls=["a"], attested_by="x", coverage={"pin": ["a"]}, today=date(2025, 4, 1))


class TestStatusRequests:
    def test_a_reply_date_already_past_is_refused(self):
        with pytest.raises(Invalid):
            given(onboarded()).request_status(request_id="r", subject="s", reply_by=date(2025, 4, 30), decided_by=SOC, today=date(2025, 5, 1))

    def test_the_report_carries_the_records_as_they_stand(self):
        operator = given(
            onboarded(date(2024, 4, 1)), assessed(date(2025, 3, 1)), trained(date(2025, 2, 1), "incident_drill"),
            requested("req-1", date(2025, 5, 1)), requested("req-2", date(2025, 4, 10)),
        )
        records = report_records(operator, date(2025, 4, 20), within_days=30, answering="req-1")
        operator.report_status(request_id="req-1", summary="概ね良好", records=records)
        report = operator.take_pending()[0]
        assert isinstance(report, StatusReported)
        assert report.records["last_assessment"]["assessment_id"] == "ra-1"  # type: ignore[index]
        assert report.records["last_trainings"]["education"] is None  # type: ignore[index]
        assert report.records["last_trainings"]["incident_drill"]["date"] == "2025-02-01"  # type: ignore[index]
        overdue = {i["item"] for i in report.records["overdue"]}  # type: ignore[attr-defined]
        assert overdue == {"training:education", "status_request:req-2"}
        assert "open_requests" not in report.records

    def test_an_unknown_request_is_not_found_and_an_answered_one_conflicts(self):
        operator = given(onboarded(), requested("req-1", date(2025, 5, 1)), StatusReported(operator_id=OP, request_id="req-1", summary="済"))
        with pytest.raises(NotFound):
            operator.report_status(request_id="nope", summary="x", records={})
        with pytest.raises(Conflict):
            operator.report_status(request_id="req-1", summary="x", records={})


class TestStanding:
    def test_a_due_date_within_the_window_is_upcoming_and_one_beyond_it_is_not(self):
        operator = given(onboarded(date(2024, 5, 1)), assessed(date(2024, 6, 1)), trained(date(2024, 6, 1)), trained(date(2024, 6, 1), "incident_drill"))
        view = standing(operator, date(2025, 4, 1), within_days=30)
        assert [i["item"] for i in view["upcoming"]] == [] and view["overdue"] == []
        view = standing(operator, date(2025, 5, 2), within_days=30)
        assert {i["item"]: i["days_left"] for i in view["upcoming"]} == {item: 30 for item in DUTIES}


class TestBoundedState:
    def test_only_the_latest_dated_records_and_the_current_flags_are_kept(self):
        operator = given(onboarded(date(2024, 4, 1)))
        flagged = operator.flag_overdue(date(2025, 4, 2))
        operator = given(
            onboarded(date(2024, 4, 1)), *flagged, assessed(date(2025, 4, 10), "new"), assessed(date(2025, 1, 1), "older"),
            trained(date(2025, 3, 1)), trained(date(2024, 5, 1)),
        )  # fmt: skip
        assert operator.last_assessment.assessment_id == "new"  # type: ignore[union-attr]
        assert operator.last_trainings["education"].date == date(2025, 3, 1)  # type: ignore[union-attr]
        assert operator.flagged == {("training:incident_drill", date(2025, 4, 1))}  # the others' due dates moved on

    def test_an_operator_restored_from_its_snapshot_owes_what_the_folded_one_owes(self):
        operator = given(onboarded(date(2024, 4, 1)), requested("req-1", date(2024, 6, 1)), trained(date(2024, 9, 1)))
        again = Operator.restore(OP, operator.version, operator.snapshot())
        assert again.snapshot() == operator.snapshot() and again.index() == {"onboarded": ["1"]}
        assert overdue_items(again, date(2025, 4, 2)) == overdue_items(operator, date(2025, 4, 2))

    def test_answered_requests_beyond_the_latest_ones_are_forgotten(self):
        events: list[DomainEvent] = [onboarded()]
        for n in range(15):
            events += [requested(f"req-{n}", date(2024, 6, 1)), StatusReported(operator_id=OP, request_id=f"req-{n}", summary="ok", records={})]
        operator = given(*events, requested("open", date(2024, 7, 1)))
        assert len(operator.requests) == 11 and [r.request_id for r in operator.open_requests()] == ["open"]
