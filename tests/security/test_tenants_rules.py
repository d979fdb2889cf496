"""The tenancy rules themselves, without I/O: who sees which part of a shared incident, whose equipment a leak marks."""

from __future__ import annotations

from datetime import datetime, timezone

from services.audit.domain.readers import for_reader, shown
from services.connection.domain.commands import MarkCompromised
from services.connection.domain.model import Connection
from services.incident.projections.queries import for_reader as incident_for_reader
from shared import tenancy
from shared.events.connection import ConnectionRegistered, SealedSecrets
from shared.principal import Principal

A, B = "op-a", "op-b"
STAFF_A = Principal(sub="operator:op-a", role="operator", operator_id=A)
AUDITOR = Principal(sub="auditor", role="auditor")
SENSOR = Principal(sub="sensor", role="sensor")


class TestTheSharedRule:
    def test_an_operator_sees_the_utilitys_part_and_its_own_never_anothers(self):
        assert tenancy.shows(STAFF_A, [None]) and tenancy.shows(STAFF_A, [])
        assert tenancy.shows(STAFF_A, [A]) and tenancy.shows(STAFF_A, [A, B])
        assert not tenancy.shows(STAFF_A, [B])

    def test_readers_of_every_tenant_see_every_part_and_a_sensor_none(self):
        assert tenancy.shows(AUDITOR, [B]) and not tenancy.shows(SENSOR, [None])

    def test_a_part_naming_several_operators_names_only_the_reader_to_an_operator(self):
        assert tenancy.known(STAFF_A, [B, A, None]) == [A]
        assert tenancy.known(AUDITOR, [B, A, None]) == [A, B]

    def test_an_incident_concerns_those_named_and_those_it_blocked(self):
        assert tenancy.concerned([None], [B, A, B]) == [A, B]
        assert tenancy.may_see(STAFF_A, tenancy.concerned([], [A]))
        assert not tenancy.may_see(STAFF_A, tenancy.concerned([B], []))


class TestTheIncidentServiceAndTheAuditLogAgree:
    def test_another_operators_report_is_left_out_by_both(self):
        view = {
            "operator_ids": [], "timeline": [{"operator_id": A}, {"operator_id": B}, {"operator_id": None}],
            "reports": {"initial": [{"operator_id": A}, {"operator_id": B}], "cause": []}, "clearing": None,
        }  # fmt: skip
        incident = incident_for_reader(view, STAFF_A, operators=[A, B], blocks=[], blocked=0)
        entries = [{"tenants": [o] if o else []} for o in (A, B, None)]
        assert [t["operator_id"] for t in incident["timeline"]] == [A, None]
        assert [r["operator_id"] for r in incident["reports"]["initial"]] == [A]
        assert [shown(STAFF_A, e) for e in entries] == [True, False, True]

    def test_a_clearing_entry_names_only_the_readers_operator_and_connections(self):
        entry = {
            "tenants": [A, B], "operator_id": None,
            "data": {"operator_ids": [A, B], "connection_ids": ["con-a", "con-b", "con-unknown"], "summary": "解消"},
        }  # fmt: skip
        owners = {"con-a": A, "con-b": B}
        mine = for_reader(STAFF_A, entry, owners=owners)
        assert mine["tenants"] == [A] and mine["data"]["operator_ids"] == [A]
        assert mine["data"]["connection_ids"] == ["con-a"] and mine["data"]["summary"] == "解消"
        assert for_reader(AUDITOR, entry, owners=owners) == entry
        assert entry["data"]["connection_ids"] == ["con-a", "con-b", "con-unknown"]  # the stored entry is untouched


class TestAnotherOperatorsReport:
    """B reports; the SOC blocks A's connection for it too: A sees the incident, not B's words or assets."""

    OPENED = {
        "operator_id": B, "operator_ids": [B], "opened_by": "operator", "category": "unauthorized_access",
        "severity": "high", "tlp": "AMBER", "title": "B社 設備番号 X-17 への侵入", "description": "B社の内部構成…",
        "affected_assets": [{"kind": "special_meter", "id": "con-b"}], "connection_id": "con-b",
    }  # fmt: skip

    def test_a_concerned_operator_sees_the_category_and_severity_but_not_the_reporters_words(self):
        seen = tenancy.opening(STAFF_A, self.OPENED)
        assert seen["title"] == tenancy.WITHHELD_TITLE and seen["description"] == ""
        assert seen["affected_assets"] == [] and seen["operator_id"] is None and seen["connection_id"] is None
        assert (seen["category"], seen["severity"], seen["tlp"]) == ("unauthorized_access", "high", "AMBER")

    def test_the_reporter_the_utility_and_a_fleet_vulnerabilitys_operators_see_all_of_it(self):
        staff_b = Principal(sub="operator:op-b", role="operator", operator_id=B)
        assert tenancy.opening(staff_b, self.OPENED) == self.OPENED
        assert tenancy.opening(AUDITOR, self.OPENED) == self.OPENED
        fleet = {**self.OPENED, "operator_ids": [], "operator_id": None, "opened_by": "utility", "title": "脆弱性"}
        assert tenancy.opening(STAFF_A, fleet) == fleet

    def test_the_incident_view_and_the_audit_dossier_withhold_the_same(self):
        from services.audit.domain.dossier import summary

        view = {**self.OPENED, "timeline": [], "reports": {"initial": [], "cause": []}, "clearing": None,
                "anomalies": [{"operator_id": B, "connection_id": "con-b"}, {"operator_id": A, "connection_id": "con-a"}]}  # fmt: skip
        incident = incident_for_reader(view, STAFF_A, operators=[A], blocks=[], blocked=0)
        assert incident["title"] == tenancy.WITHHELD_TITLE and incident["description"] == ""
        assert [a["connection_id"] for a in incident["anomalies"]] == ["con-a"]
        entries = [{"subject": "inc-1", "type": "IncidentOpened", "data": self.OPENED, "time": "2026-12-01T00:00:00+00:00"}]
        assert summary("inc-1", entries, operators=[A], principal=STAFF_A)["title"] == tenancy.WITHHELD_TITLE
        assert summary("inc-1", entries, operators=[A, B], principal=AUDITOR)["title"] == self.OPENED["title"]


class TestACredentialLeak:
    def _connection(self) -> Connection:
        registered = ConnectionRegistered(
            connection_id="con-a", operator_id=A, kind="special_meter", maker="M", model="X1", firmware="1.0",
            secrets=SealedSecrets(ciphertext="x", fingerprint="f", hints={}),
        )  # fmt: skip
        return Connection.rehydrate("con-a", [registered])

    def test_another_operators_report_marks_nothing_of_this_connection(self):
        c = self._connection()
        assert c.mark_compromised("leak-1", reported_by_operator=B) is False
        assert not c.compromised and c.take_pending() == []

    def test_its_own_operators_report_and_the_utilitys_mark_it(self):
        c = self._connection()
        assert c.mark_compromised("leak-1", reported_by_operator=A) is True
        assert c.mark_compromised("leak-2", reported_by_operator=None) is True

    def test_a_command_that_does_not_say_who_reported_marks_nothing(self):
        at = datetime(2025, 4, 1, tzinfo=timezone.utc)
        old = MarkCompromised(source="e1", incident_id="leak-1", at=at, connection_id="con-a")
        utility = MarkCompromised(source="e2", incident_id="leak-2", at=at, connection_id="con-a", opened_by="utility")
        assert old.reporting_operator == "" and utility.reporting_operator is None
        assert self._connection().mark_compromised("leak-1", reported_by_operator=old.reporting_operator) is False
