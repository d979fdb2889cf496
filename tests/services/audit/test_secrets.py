"""No secret ciphertext in the audit log, its proofs or its dossiers; the log stays verifiable and rebuildable."""

from __future__ import annotations

import base64
import json
import sqlite3
from pathlib import Path

from services.audit.adapters import store
from services.audit.bootstrap import build_app
from services.audit.config import log_db_path
from services.audit.domain.entries import facts_of, redact
from services.audit.domain.merkle import leaf_hash
from services.audit.domain.verifier import verify_inclusion
from services.audit.projections.log import AuditLog
from shared.events.connection import SealedSecrets, SecretsRotated
from shared.topics import CONNECTION_EVENTS, EVENT_TOPICS
from tests.factories import (
    SOC,
    StandInWriter,
    bearer,
    connection_blocked,
    connection_registered,
    eventually,
    incident_opened,
    serving,
    uid,
)
from tests.services.audit.helpers import records_of

CIPHERTEXT = "gAAAAABsealed-ciphertext-that-must-never-be-logged"
SEALED = SealedSecrets(ciphertext=CIPHERTEXT, fingerprint="fp-4f1c", hints={"auth_id": "AU…78", "password": "••••"})


def story(op: str, con: str, inc: str) -> list[tuple[str, object]]:
    rotated = SecretsRotated(connection_id=con, operator_id=op, secrets=SEALED.model_copy(update={"ciphertext": CIPHERTEXT + "-2"}))
    return [
        (con, connection_registered(con, op, secrets=SEALED)),
        (con, rotated),
        (con, connection_blocked(con, op, inc)),
    ]


class TestTheKeptRecord:
    def test_a_record_with_secrets_keeps_the_fingerprint_hints_and_key_id_only(self):
        (record,) = records_of(CONNECTION_EVENTS, story("op-a", "con-a", "inc-a")[:1], operator_id="op-a")
        kept = redact(record.value)
        secrets = json.loads(kept)["data"]["secrets"]
        assert CIPHERTEXT.encode() not in kept
        assert secrets == {"fingerprint": "fp-4f1c", "hints": {"auth_id": "AU…78", "password": "••••"}, "key_id": None}
        assert facts_of(record.value).data["secrets"] == secrets
        assert redact(record.value) == kept  # the same record always gives the same bytes

    def test_a_record_without_secrets_is_kept_byte_for_byte(self):
        (record,) = records_of(CONNECTION_EVENTS, story("op-a", "con-a", "inc-a")[2:], operator_id="op-a")
        assert redact(record.value) == record.value
        assert redact(b"\xff not json") == b"\xff not json"

    def test_a_secret_field_spelt_with_escapes_is_left_out_too(self):
        (record,) = records_of(CONNECTION_EVENTS, story("op-a", "con-a", "inc-a")[:1], operator_id="op-a")
        escaped = record.value.replace(b'"ciphertext"', b'"\\u0063iphertext"')
        assert b'"ciphertext"' not in escaped and CIPHERTEXT.encode() in escaped
        assert CIPHERTEXT.encode() not in redact(escaped)

    def test_a_rebuild_from_the_same_records_gives_the_same_roots_and_no_ciphertext(self, tmp_path: Path):
        records = records_of(CONNECTION_EVENTS, story("op-a", "con-a", "inc-a"), operator_id="op-a")
        first, second = AuditLog(tmp_path / "a.sqlite"), AuditLog(tmp_path / "b.sqlite")
        try:
            first.append(records)
            second.append(records[:1])
            second.append(records[1:])
            assert first.logs.heads() == second.logs.heads()
            stored = [e.value for e in store.stored_entries(first.db)]
            assert [leaf_hash(v) for v in stored] == [bytes(r[0]) for r in first.db.execute("SELECT leaf_hash FROM entries ORDER BY idx")]
        finally:
            first.close()
            second.close()
        assert CIPHERTEXT.encode() not in (tmp_path / "a.sqlite").read_bytes()

    def test_a_log_stored_before_secrets_were_left_out_is_emptied_to_be_rebuilt(self, tmp_path: Path):
        path = tmp_path / "old.sqlite"
        (record,) = records_of(CONNECTION_EVENTS, story("op-a", "con-a", "inc-a")[:1], operator_id="op-a")
        log = AuditLog(path)
        old = store.NewEntry("smguard.connection.events/0", 0, record.topic, 0, 0, record.value, leaf_hash(record.value),
                             leaf_hash(record.value), facts_of(record.value))  # fmt: skip
        store.append(log.db, [old])
        log.db.execute("PRAGMA user_version = 0")
        log.close()
        reopened = AuditLog(path)
        try:
            assert reopened.logs.total_size() == 0 and reopened.positions == {}
            reopened.append([record])
            assert reopened.logs.total_size() == 1
        finally:
            reopened.close()
        assert CIPHERTEXT.encode() not in path.read_bytes()


class TestOnTheBroker:
    async def test_entries_dossiers_and_proofs_carry_no_ciphertext_and_the_log_verifies(self, settings):
        op, con, inc = uid("op"), uid("con"), uid("inc")
        async with StandInWriter(settings, EVENT_TOPICS, source="smguard/story") as writer:
            await writer.append(inc, [incident_opened(inc, op)], actor=SOC.id)
            for subject, event in story(op, con, inc):
                await writer.append(subject, [event], operator_id=op, actor=SOC.id)
        auditor = bearer(settings, "auditor")
        async with serving(build_app(settings)) as client:
            async def logged():
                page = (await client.get("/audit/entries", params={"subject": con}, headers=auditor)).json()["items"]
                return page if len(page) == 3 else None

            entries = await eventually(logged, what="the connection's three events logged")
            await client.post("/audit/checkpoints", headers=auditor)
            dossier = await client.get(f"/audit/dossiers/{inc}", headers=auditor)
            staff = await client.get("/audit/entries", headers=bearer(settings, "operator", op))
            registered = next(e for e in entries if e["type"] == "ConnectionRegistered")
            proof = (await client.get(f"/audit/proofs/inclusion/{registered['entry']}", headers=auditor)).json()
            verified = (await client.get("/audit/verify", headers=auditor)).json()

        assert registered["data"]["secrets"] == {"fingerprint": "fp-4f1c", "hints": SEALED.hints, "key_id": SEALED.key_id}
        for text in (json.dumps(entries), dossier.text, staff.text, json.dumps(proof)):
            assert CIPHERTEXT not in text
        value = base64.b64decode(proof["value_b64"])
        assert CIPHERTEXT.encode() not in value
        verify_inclusion(data=value, log=proof["log"], proof=proof["proof"], checkpoint=proof["checkpoint"],
                         public_key=proof["public_key"])  # fmt: skip
        assert verified["ok"] is True and verified["first_bad"] is None
        with sqlite3.connect(log_db_path(settings)) as db:
            values = [bytes(r[0]) for r in db.execute("SELECT value FROM entries")]
        assert values and not any(CIPHERTEXT.encode() in v for v in values)
