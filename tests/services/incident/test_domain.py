"""The incident aggregate: given events, when a command, then events or an error. No I/O."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.domain import Conflict, Forbidden, Invalid, NotFound
from shared.events.incident import (
    AnomalyAttached,
    AnomalyDetected,
    CauseReport,
    ImpactLine,
    IncidentCleared,
    IncidentNoteAttached,
    IncidentOpened,
    InitialReport,
    ReportFiled,
    ReportOverdue,
    VulnerabilityDeclared,
)
from shared.events.values import Actor
from shared.principal import Principal
from services.incident.domain.anomalies import AnomalyBatch, AnomalyIndex, ConnectionRef
from services.incident.domain.commands import (
    Anomaly,
    AssetRef,
    AttachNote,
    ClearIncident,
    DeclareVulnerability,
    FileReport,
    OpenIncident,
)
from services.incident.domain.model import Incident

from tests.factories import DETECTED

SOC = Principal(sub="soc-1", role="utility_soc")
OPERATOR = Principal(sub="op-a-staff", role="operator", operator_id="op-a")
OTHER_OPERATOR = Principal(sub="op-b-staff", role="operator", operator_id="op-b")
NOTHING_BLOCKED: dict[str, str] = {}
DEADLINES = {"initial": timedelta(hours=24), "cause": timedelta(days=14)}
INITIAL = InitialReport(
    event="不正アクセスの検知", location="名古屋", impacts=[ImpactLine(target="HES", impact="なし")], response_plan="遮断"
)
CAUSE = CauseReport(cause="脆弱なパスワード", countermeasure="変更", countermeasure_plan="即日", recurrence_prevention="教育")


def opened(**overrides) -> IncidentOpened:
    values = dict(
        incident_id="inc-1", operator_id="op-a", operator_ids=["op-a"], category="terminal_loss", severity="high",
        title="端末紛失", affected_assets=[{"kind": "wireless_terminal", "id": "WT-1", "side": "operator"}],
        detected_at=DETECTED, opened_by="operator",
    )  # fmt: skip
    values.update(overrides)
    return IncidentOpened(**values)


def given(*events) -> Incident:
    return Incident.rehydrate("inc-1", events)


def filed(part: str, revision: int = 1) -> ReportFiled:
    content = {"initial": INITIAL} if part == "initial" else {"cause": CAUSE}
    return ReportFiled(incident_id="inc-1", part=part, revision=revision, filed_by="operator", direction="operator_to_utility", **content)


def anomaly(signal: str, connection: str = "conn-1") -> Anomaly:
    return Anomaly(signal_id=signal, connection_id=connection, type="unauthorized_access", severity="high", observed_at=DETECTED)


class TestOpenIncident:
    def command(self, **overrides) -> OpenIncident:
        values = dict(
            category="credential_leak", severity="critical", title="認証情報の漏洩", detected_at=DETECTED, operator_id="op-a",
            affected_assets=(AssetRef("special_meter", "SP-1"), AssetRef("hes", "HES-1")),
        )  # fmt: skip
        values.update(overrides)
        return OpenIncident(**values)

    def test_a_report_opens_an_incident_with_amber_marking_by_default(self):
        [event] = Incident.open("inc-1", self.command(), by=OPERATOR).take_pending()
        assert isinstance(event, IncidentOpened)
        assert (event.origin, event.tlp, event.operator_ids, event.opened_by) == ("report", "AMBER", ["op-a"], "operator")

    def test_the_responsible_side_of_each_asset_follows_from_its_kind(self):
        [event] = Incident.open("inc-1", self.command(), by=OPERATOR).take_pending()
        assert [(a.kind, a.side) for a in event.affected_assets] == [("special_meter", "operator"), ("hes", "utility")]

    def test_the_tlp_marking_can_be_chosen(self):
        [event] = Incident.open("inc-1", self.command(tlp="AMBER+STRICT"), by=OPERATOR).take_pending()
        assert event.tlp == "AMBER+STRICT"

    def test_a_blank_title_is_refused(self):
        with pytest.raises(Invalid):
            Incident.open("inc-1", self.command(title="  "), by=OPERATOR)

    def test_an_unknown_asset_kind_is_refused(self):
        with pytest.raises(Invalid):
            Incident.open("inc-1", self.command(affected_assets=(AssetRef("toaster", "T-1"),)), by=OPERATOR)

    def test_an_operator_reports_for_itself_when_it_names_no_operator(self):
        [event] = Incident.open("inc-1", self.command(operator_id=None), by=OPERATOR).take_pending()
        assert (event.operator_id, event.operator_ids) == ("op-a", ["op-a"])

    def test_an_operator_may_not_report_for_another_operator(self):
        with pytest.raises(Forbidden):
            Incident.open("inc-1", self.command(operator_id="op-b"), by=OPERATOR)

    def test_the_utility_reports_for_the_operator_it_names(self):
        [event] = Incident.open("inc-1", self.command(operator_id="op-b"), by=SOC).take_pending()
        assert (event.operator_id, event.opened_by) == ("op-b", "utility")

    def test_an_operator_report_names_its_operator(self):
        nameless = Principal(sub="someone", role="operator")
        with pytest.raises(Invalid):
            Incident.open("inc-1", self.command(operator_id=None), by=nameless)


class TestFileReport:
    def file(self, incident: Incident, by: Principal = OPERATOR, **content) -> int:
        part = "initial" if "initial" in content else "cause"
        return incident.file_report(FileReport(part, **content), by=by, blocked=NOTHING_BLOCKED)

    def test_the_operator_files_an_initial_report_to_the_utility(self):
        incident = given(opened())
        assert self.file(incident, initial=INITIAL) == 1
        [event] = incident.take_pending()
        assert (event.part, event.revision, event.direction, event.initial) == ("initial", 1, "operator_to_utility", INITIAL)

    def test_the_utility_files_towards_the_operator(self):
        incident = given(opened())
        self.file(incident, SOC, cause=CAUSE)
        [event] = incident.take_pending()
        assert (event.filed_by, event.direction, event.cause) == ("utility", "utility_to_operator", CAUSE)

    def test_a_revision_gets_the_next_number_and_the_earlier_is_kept(self):
        incident = given(opened(), filed("initial", 1), filed("initial", 2))
        assert self.file(incident, SOC, initial=INITIAL) == 3

    def test_the_two_parts_are_numbered_separately(self):
        incident = given(opened(), filed("initial", 1), filed("initial", 2))
        assert self.file(incident, cause=CAUSE) == 1

    def test_a_blank_required_field_is_refused(self):
        blank = CauseReport(cause=" ", countermeasure="a", countermeasure_plan="b", recurrence_prevention="c")
        with pytest.raises(Invalid, match="cause"):
            self.file(given(opened()), cause=blank)

    def test_an_initial_report_lists_at_least_one_impact(self):
        empty = InitialReport(event="a", location="b", impacts=[], response_plan="c")
        with pytest.raises(Invalid, match="impacts"):
            self.file(given(opened()), initial=empty)

    def test_no_report_on_a_cleared_incident(self):
        cleared = IncidentCleared(incident_id="inc-1", summary="済", cleared_by="utility")
        with pytest.raises(Conflict):
            self.file(given(opened(), filed("cause"), cleared), initial=INITIAL)

    def test_an_operator_the_incident_does_not_concern_finds_no_incident(self):
        with pytest.raises(NotFound):
            self.file(given(opened()), OTHER_OPERATOR, initial=INITIAL)

    def test_an_operator_whose_connection_was_blocked_for_it_files_as_the_operator(self):
        incident = given(opened(origin="vulnerability", operator_id=None, operator_ids=[]))
        incident.file_report(FileReport("initial", initial=INITIAL), by=OTHER_OPERATOR, blocked={"conn-9": "op-b"})
        assert incident.take_pending()[0].filed_by == "operator"


class TestAttachNote:
    def test_either_party_attaches_a_note_recording_its_side_and_author(self):
        incident = given(opened())
        incident.attach_note(AttachNote("端末の所在を確認中"), by=OPERATOR, blocked=NOTHING_BLOCKED)
        incident.attach_note(AttachNote("ログを確認しました"), by=SOC, blocked=NOTHING_BLOCKED)
        first, second = incident.take_pending()
        assert isinstance(first, IncidentNoteAttached)
        assert (first.text, first.attached_by, first.author) == ("端末の所在を確認中", "operator", Actor(kind="person", id="op-a-staff", role="operator"))
        assert (second.attached_by, second.author.role) == ("utility", "utility_soc")

    def test_an_operator_the_incident_does_not_concern_finds_no_incident(self):
        with pytest.raises(NotFound):
            given(opened()).attach_note(AttachNote("x"), by=OTHER_OPERATOR, blocked=NOTHING_BLOCKED)

    def test_a_blank_or_too_long_note_is_refused(self):
        for text in ("  ", "あ" * 4001):
            with pytest.raises(Invalid):
                given(opened()).attach_note(AttachNote(text), by=SOC, blocked=NOTHING_BLOCKED)

    def test_no_note_on_a_cleared_incident(self):
        cleared = IncidentCleared(incident_id="inc-1", summary="済", cleared_by="utility")
        with pytest.raises(Conflict):
            given(opened(), filed("cause"), cleared).attach_note(AttachNote("後から"), by=SOC, blocked=NOTHING_BLOCKED)


class TestClearIncident:
    def clear(self, incident: Incident, by: Principal = SOC, blocked: dict[str, str] = NOTHING_BLOCKED) -> None:
        incident.clear(ClearIncident(summary="解消しました"), by=by, blocked=blocked)

    def test_clearing_before_a_cause_report_is_refused(self):
        with pytest.raises(Conflict, match="cause report"):
            self.clear(given(opened(), filed("initial")))

    def test_the_utility_clears_once_the_cause_report_is_in(self):
        incident = given(opened(connection_id="conn-1"), filed("cause"))
        self.clear(incident, blocked={"conn-2": "op-b"})
        [event] = incident.take_pending()
        assert isinstance(event, IncidentCleared)
        assert (event.operator_ids, event.connection_ids, event.cleared_by) == (["op-a", "op-b"], ["conn-1", "conn-2"], "utility")
        assert event.decided_by == Actor(kind="person", id="soc-1", role="utility_soc")

    def test_the_operator_clears_an_incident_in_its_own_assets(self):
        incident = given(opened(), filed("cause"))
        self.clear(incident, OPERATOR)
        assert incident.cleared

    def test_the_operator_may_not_clear_an_incident_in_utility_assets(self):
        utility_side = opened(affected_assets=[{"kind": "hes", "id": "HES-1", "side": "utility"}])
        with pytest.raises(Forbidden):
            self.clear(given(utility_side, filed("cause")), OPERATOR)

    def test_the_operator_may_not_clear_a_vulnerability_incident(self):
        with pytest.raises(Forbidden):
            self.clear(given(opened(origin="vulnerability"), filed("cause")), OPERATOR)

    def test_an_incident_is_cleared_only_once(self):
        cleared = IncidentCleared(incident_id="inc-1", summary="済", cleared_by="utility")
        with pytest.raises(Conflict):
            self.clear(given(opened(), filed("cause"), cleared))


class TestReportDeadlines:
    def test_nothing_is_overdue_before_the_deadline(self):
        assert given(opened()).mark_overdue(DETECTED + timedelta(hours=23), DEADLINES) == []

    def test_a_missing_initial_report_is_overdue_after_its_deadline(self):
        incident = given(opened())
        assert incident.mark_overdue(DETECTED + timedelta(hours=24), DEADLINES) == ["initial"]
        [event] = incident.take_pending()
        assert isinstance(event, ReportOverdue) and event.due_at == DETECTED + timedelta(hours=24)

    def test_an_overdue_part_is_recorded_only_once(self):
        late = ReportOverdue(incident_id="inc-1", part="initial", due_at=DETECTED + timedelta(hours=24))
        assert given(opened(), late).mark_overdue(DETECTED + timedelta(hours=30), DEADLINES) == []

    def test_a_filed_part_is_never_overdue(self):
        incident = given(opened(), filed("initial"))
        assert incident.mark_overdue(DETECTED + timedelta(days=15), DEADLINES) == ["cause"]

    def test_a_cleared_incident_has_no_deadlines(self):
        cleared = IncidentCleared(incident_id="inc-1", summary="済", cleared_by="utility")
        assert given(opened(), filed("cause"), cleared).mark_overdue(DETECTED + timedelta(days=30), DEADLINES) == []


class TestAnomalies:
    def decide(self, anomalies, index=None, store=None):
        store = {} if store is None else store
        ids = iter(f"inc-{n}" for n in range(1, 100))
        known = {"conn-1": ConnectionRef("op-a", "special_meter"), "conn-2": ConnectionRef("op-b", "iot_route")}
        batch = AnomalyBatch(
            index or AnomalyIndex(), connections=known.get, load=lambda i: store[i], new_id=lambda connection: next(ids)
        )
        outcomes, events = [], {}
        for one in anomalies:  # as the handler does: each decided signal taken (staged) before the next
            outcome, incident = batch.decide(one)
            outcomes.append(outcome)
            if incident is not None:
                events.setdefault(incident.id, []).extend(incident.take_pending())
        return outcomes, events

    def test_the_first_anomaly_opens_an_incident_about_the_connection(self):
        outcomes, events = self.decide([anomaly("s1")])
        opened_event, detected = events["inc-1"]
        assert (opened_event.origin, opened_event.category, opened_event.connection_id) == ("anomaly", "unauthorized_access", "conn-1")
        assert [(a.kind, a.id, a.side) for a in opened_event.affected_assets] == [("special_meter", "conn-1", "operator")]
        assert isinstance(detected, AnomalyDetected) and opened_event.operator_id == "op-a"
        assert (outcomes[0].attached, outcomes[0].duplicate) == (False, False)

    def test_later_anomalies_on_the_connection_attach_to_its_open_incident(self):
        outcomes, events = self.decide([anomaly(f"s{n}") for n in range(1000)])
        assert list(events) == ["inc-1"]
        assert sum(isinstance(e, AnomalyAttached) for e in events["inc-1"]) == 999
        assert all(o.incident_id == "inc-1" for o in outcomes)

    def test_a_duplicate_signal_is_recognised_and_adds_nothing(self):
        outcomes, events = self.decide([anomaly("s1"), anomaly("s1")])
        assert (outcomes[1].duplicate, outcomes[1].incident_id) == (True, "inc-1")
        assert len(events["inc-1"]) == 2

    def test_a_duplicate_of_an_earlier_batch_adds_nothing(self):
        index = AnomalyIndex(signals={"s1": "inc-7"})
        outcomes, events = self.decide([anomaly("s1")], index=index)
        assert (outcomes[0].duplicate, outcomes[0].incident_id, events) == (True, "inc-7", {})

    def test_an_anomaly_attaches_to_an_incident_opened_earlier(self):
        earlier = Incident.open_by_anomaly("inc-7", anomaly("s0"), operator_id="op-a", asset_kind="special_meter")
        earlier = Incident.rehydrate("inc-7", earlier.take_pending())
        index = AnomalyIndex(signals={"s0": "inc-7"}, open_by_connection={"conn-1": "inc-7"})
        outcomes, events = self.decide([anomaly("s1")], index=index, store={"inc-7": earlier})
        assert outcomes[0].attached and [type(e) for e in events["inc-7"]] == [AnomalyAttached]

    def test_each_connection_gets_its_own_incident(self):
        _, events = self.decide([anomaly("s1", "conn-1"), anomaly("s2", "conn-2")])
        assert [e[0].operator_id for e in events.values()] == ["op-a", "op-b"]

    def test_an_anomaly_on_an_unknown_connection_is_refused_with_the_reason(self):
        outcomes, events = self.decide([anomaly("s1", "conn-x")])
        assert outcomes[0].refused == "unknown connection conn-x" and events == {}

    def test_later_signals_see_earlier_ones_of_the_batch_but_the_known_index_is_left_as_it_was(self):
        known = AnomalyIndex(signals={"s0": "inc-7"}, open_by_connection={})
        outcomes, _ = self.decide([anomaly("s1"), anomaly("s1"), anomaly("s2")], index=known)
        assert [(o.incident_id, o.attached, o.duplicate) for o in outcomes] == [
            ("inc-1", False, False), ("inc-1", True, True), ("inc-1", True, False),
        ]  # fmt: skip
        assert known == AnomalyIndex(signals={"s0": "inc-7"}, open_by_connection={})


class TestDeclareVulnerability:
    def command(self, **overrides) -> DeclareVulnerability:
        values = dict(title="ファームウェアの脆弱性", severity="critical", asset_kind="special_meter", maker="メーカーA", model="SM-1", firmware=">=1.0,<1.4")
        values.update(overrides)
        return DeclareVulnerability(**values)

    def test_a_vulnerability_opens_an_incident_and_declares_its_criteria(self):
        opened_event, declared = Incident.declare_vulnerability("inc-9", self.command(), now=DETECTED).take_pending()
        assert (opened_event.origin, opened_event.category, opened_event.opened_by) == ("vulnerability", "vulnerability", "utility")
        assert isinstance(declared, VulnerabilityDeclared) and declared.firmware == ">=1.0,<1.4"

    def test_an_exact_firmware_is_accepted(self):
        _, declared = Incident.declare_vulnerability("inc-9", self.command(firmware="1.2.3"), now=DETECTED).take_pending()
        assert declared.firmware == "1.2.3"

    def test_a_malformed_firmware_range_is_refused(self):
        with pytest.raises(Invalid, match="range"):
            Incident.declare_vulnerability("inc-9", self.command(firmware=">=1.0,,<<"), now=DETECTED)

    def test_a_list_of_versions_is_a_range_that_cannot_be_read_so_it_is_refused(self):
        # the one firmware rule (shared.firmware): a comma makes it a range, and "1.0,2.0" is no valid range
        with pytest.raises(Invalid, match="range"):
            Incident.declare_vulnerability("inc-9", self.command(firmware="1.0,2.0"), now=DETECTED)

    def test_a_range_of_conditions_that_must_all_hold_is_accepted(self):
        _, declared = Incident.declare_vulnerability("inc-9", self.command(firmware=">=1.0, <2.0"), now=DETECTED).take_pending()
        assert declared.firmware == ">=1.0, <2.0"

    def test_a_utility_side_finding_names_smart_meters(self):
        cmd = self.command(asset_kind="smart_meter", maker=None, model=None, firmware=None, smart_meter_ids=("SM-1", "SM-2"))
        opened_event, declared = Incident.declare_vulnerability("inc-9", cmd, now=DETECTED).take_pending()
        assert [(a.id, a.side) for a in opened_event.affected_assets] == [("SM-1", "utility"), ("SM-2", "utility")]
        assert declared.smart_meter_ids == ["SM-1", "SM-2"]

    def test_operator_equipment_needs_maker_and_model(self):
        with pytest.raises(Invalid):
            Incident.declare_vulnerability("inc-9", self.command(model=None), now=DETECTED)


class TestParties:
    def test_the_soc_acts_as_the_utility_and_a_concerned_operator_as_the_operator(self):
        incident = given(opened())
        assert incident.party_of(SOC, blocked=NOTHING_BLOCKED) == "utility"
        assert incident.party_of(OPERATOR, blocked=NOTHING_BLOCKED) == "operator"

    def test_an_operator_whose_connection_was_blocked_for_it_is_a_party(self):
        assert given(opened()).party_of(OTHER_OPERATOR, blocked={"conn-9": "op-b"}) == "operator"

    def test_another_operator_and_the_desk_find_no_incident(self):
        incident = given(opened())
        for stranger in (OTHER_OPERATOR, Principal(sub="desk-1", role="utility_desk")):
            with pytest.raises(NotFound):
                incident.party_of(stranger, blocked=NOTHING_BLOCKED)


class TestState:
    def test_a_snapshot_restores_an_incident_that_decides_as_the_folded_one(self):
        late = ReportOverdue(incident_id="inc-1", part="initial", due_at=DETECTED + timedelta(hours=24))
        folded = given(opened(), filed("initial"), late)
        restored = Incident.restore("inc-1", folded.version, folded.snapshot())
        assert restored.snapshot() == folded.snapshot() and restored.version == 3
        assert restored.mark_overdue(DETECTED + timedelta(days=15), DEADLINES) == ["cause"]
        assert TestFileReport().file(restored, initial=INITIAL) == 2

    def test_attached_anomalies_leave_the_state_as_it_was(self):
        first = Incident.open_by_anomaly("inc-1", anomaly("s0"), operator_id="op-a", asset_kind="special_meter")
        incident = Incident.rehydrate("inc-1", first.take_pending())
        before = incident.snapshot()
        for n in range(1, 2000):
            incident.attach(anomaly(f"s{n}"), operator_id="op-a")
        assert incident.snapshot() == before and len(incident.take_pending()) == 1999

    def test_an_open_incident_is_found_by_open_and_an_anomaly_incident_by_its_connection_until_cleared(self):
        first = Incident.open_by_anomaly("inc-1", anomaly("s0"), operator_id="op-a", asset_kind="special_meter")
        events = first.take_pending()
        assert Incident.rehydrate("inc-1", events).index() == {"open": ["1"], "connection": ["conn-1"]}
        assert given(opened()).index() == {"open": ["1"]}
        cleared = IncidentCleared(incident_id="inc-1", summary="済", cleared_by="utility")
        assert Incident.rehydrate("inc-1", [*events, filed("cause"), cleared]).index() == {}

    def test_a_signal_is_recognised_again_by_its_marker(self):
        first = Incident.open_by_anomaly("inc-1", anomaly("s0"), operator_id="op-a", asset_kind="special_meter")
        opened_event, detected = first.take_pending()
        assert Incident.markers_of(detected) == ["signal:s0"] and Incident.markers_of(opened_event) == []
