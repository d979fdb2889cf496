"""AuditService with the in-memory checkpoint store: signing, verifying, proofs and what a reader may see."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from prometheus_client import REGISTRY

from services.audit.adapters.memory import MemoryCheckpointStore
from services.audit.application.service import AuditService
from services.audit.bootstrap import build_service
from services.audit.config import AuditSettings
from services.audit.domain.checkpoints import sign_checkpoint
from services.audit.domain.entries import EntryFilter
from services.audit.domain.merkle import MerkleLogs
from shared.domain import Invalid, NotFound
from shared.principal import Principal
from shared.topics import CONNECTION_EVENTS, INCIDENT_EVENTS
from tests.factories import FakeClock, connection_registered, incident_opened, make_settings, uid
from tests.services.audit.helpers import records_of

AUDITOR = Principal(sub="auditor-1", role="auditor")


@pytest.fixture
def audit(tmp_path):
    """The service as bootstrap builds it, with checkpoints in memory (the log is a file under ``tmp_path``)."""
    settings = make_settings("127.0.0.1:9", "t.", tmp_path)  # no broker: nothing here reads a topic
    service = build_service(settings, AuditSettings(), checkpoints=MemoryCheckpointStore(), clock=FakeClock())
    yield service
    service.log.close()


def log_incident(audit: AuditService, operator_id: str, *, partition: int = 0) -> str:
    incident = uid("inc")
    start = audit.log.positions.get(f"{INCIDENT_EVENTS}/{partition}", 0)
    audit.log.append(records_of(INCIDENT_EVENTS, [(incident, incident_opened(incident, operator_id))],
                                partition=partition, start=start, operator_id=operator_id))  # fmt: skip
    return incident


class TestSignCheckpoint:
    def test_a_second_checkpoint_with_nothing_new_returns_the_latest(self, audit, tmp_path):
        log_incident(audit, uid("op"))
        first = audit.checkpoint()
        again = audit.checkpoint()
        assert again == first and first["seq"] == 1
        assert len(audit.checkpoints.all()) == 1
        assert not (tmp_path / "audit" / "checkpoints.sqlite").exists()

    def test_a_checkpoint_after_new_entries_is_the_next_one_at_the_clocks_time(self, audit):
        log_incident(audit, uid("op"))
        audit.checkpoint()
        audit.clock.advance(minutes=5)
        log_incident(audit, uid("op"), partition=1)
        second = audit.checkpoint()
        assert second["seq"] == 2 and second["size"] == 2
        assert second["time"] == audit.clock().isoformat()

    def test_the_latest_checkpoint_is_signed_on_first_request(self, audit):
        log_incident(audit, uid("op"))
        assert audit.checkpoint_at(None)["seq"] == 1
        with pytest.raises(NotFound):
            audit.checkpoint_at(7)


class TestVerify:
    async def test_an_untouched_log_verifies_against_its_checkpoints(self, audit):
        log_incident(audit, uid("op"))
        audit.checkpoint()
        report = await audit.verify()
        assert report["ok"] and report["checkpoints_checked"] == 1 and report["size"] == 1

    async def test_a_checkpoint_signed_with_another_key_is_reported(self, audit):
        log_incident(audit, uid("op"))
        audit.checkpoint()
        logs = MerkleLogs()
        logs.append("smguard.incident.events/0", b"forged")
        audit.checkpoints.add(sign_checkpoint(logs, Ed25519PrivateKey.generate(), seq=2, at=audit.clock()))
        report = await audit.verify()
        assert report["ok"] is False and report["first_bad"] is None
        assert report["checkpoints_checked"] == 1
        assert [p["checkpoint"] for p in report["checkpoint_problems"]] == [2]
        assert "signature" in report["checkpoint_problems"][0]["reason"]

    async def test_the_metrics_tell_whether_the_last_verification_found_the_log_whole(self, audit):
        log_incident(audit, uid("op"))
        audit.checkpoint()
        await audit.verify()
        assert REGISTRY.get_sample_value("smguard_audit_verification_ok") == 1
        assert REGISTRY.get_sample_value("smguard_audit_verification_timestamp_seconds") == audit.clock().timestamp()
        audit.log.db.execute("UPDATE entries SET value = CAST(value || ' ' AS BLOB) WHERE idx = 0")
        await audit.verify()
        assert REGISTRY.get_sample_value("smguard_audit_verification_ok") == 0

    async def test_a_byte_changed_in_the_store_is_named_and_the_streamed_report_is_the_same(self, audit):
        for _ in range(5):
            log_incident(audit, uid("op"))
        audit.checkpoint()
        audit.log.db.execute("UPDATE entries SET value = CAST(value || ' ' AS BLOB) WHERE idx = 3")
        lines = [line async for line in audit.verify_with_progress()]
        report = await audit.verify()
        assert lines[-1] == {"report": report}
        assert all(set(line) == {"done", "total"} and line["total"] == 5 for line in lines[:-1])
        assert lines[-2] == {"done": 5, "total": 5}
        assert report["ok"] is False and report["size"] == 5
        assert (report["first_bad"]["entry"], report["first_bad"]["reason"]) == (
            "smguard.incident.events/0#3", "bytes changed: leaf hash differs")


class TestProofs:
    def test_an_entry_the_checkpoint_does_not_cover_yet_is_refused(self, audit):
        log_incident(audit, uid("op"))
        audit.checkpoint()
        log_incident(audit, uid("op"))
        assert audit.inclusion(f"{INCIDENT_EVENTS}:0:0", 1)["index"] == 0
        with pytest.raises(Invalid, match="does not cover"):
            audit.inclusion(f"{INCIDENT_EVENTS}:0:1", 1)

    def test_an_unknown_entry_is_not_found(self, audit):
        with pytest.raises(NotFound):
            audit.inclusion("smguard.incident.events:0:99", None)

    def test_consistency_needs_the_first_checkpoint_before_the_second(self, audit):
        log_incident(audit, uid("op"))
        audit.checkpoint()
        log_incident(audit, uid("op"))
        audit.checkpoint()
        assert set(audit.consistency(1, 2)["proofs"]) == {"smguard.incident.events/0"}
        with pytest.raises(Invalid):
            audit.consistency(2, 1)


class TestWhatAReaderSees:
    def test_an_operator_sees_its_own_entries_only(self, audit):
        mine, theirs = uid("op"), uid("op")
        log_incident(audit, mine)
        audit.log.append(records_of(CONNECTION_EVENTS, [(uid("con"), connection_registered(uid("con"), theirs))], operator_id=theirs))
        page = audit.entries(EntryFilter(), Principal(sub="o", role="operator", operator_id=mine), limit=10, start=0)
        everything = audit.entries(EntryFilter(), AUDITOR, limit=10, start=0)
        assert [e["operator_id"] for e in page["items"]] == [mine]
        assert len(everything["items"]) == 2

    def test_an_operator_token_without_an_operator_id_sees_nothing(self, audit):
        log_incident(audit, uid("op"))
        page = audit.entries(EntryFilter(), Principal(sub="o", role="operator"), limit=10, start=0)
        assert page["items"] == []

    def test_another_operators_dossier_is_not_found(self, audit):
        owner = uid("op")
        incident = log_incident(audit, owner)
        assert audit.dossier(incident, Principal(sub="o", role="operator", operator_id=owner))["summary"]["incident_id"] == incident
        with pytest.raises(NotFound):
            audit.dossier(incident, Principal(sub="o", role="operator", operator_id=uid("op")))
