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
