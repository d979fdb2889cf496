"""Poison and duplicate records on the event topics: each unreadable record goes to the dead-letter topic with its
reason, a duplicate (the same event id twice) is applied once, and the service goes on — against the real incident
service (its read model's subscriber and its event store) and the audit consumer, on the real broker."""

from __future__ import annotations

import json
from typing import Any

from services.audit.bootstrap import build_app as audit_app
from shared.envelope import encode
from shared.kafka import clients
from shared.topics import CONNECTION_EVENTS, DEAD_LETTERS, INCIDENT_EVENTS
from tests.factories import bearer, connection_registered, envelope, eventually, make_settings, report_overdue, serving, uid
from tests.faults.conftest import send_raw
from tests.faults.report import record
from tests.services.incident.helpers import INITIAL, incident_body, known, running


def good(connection_id: str, operator_id: str, **attributes: Any) -> tuple[bytes, bytes]:
    """A readable ConnectionRegistered record (key, value)."""
    message = encode(envelope(connection_registered(connection_id, operator_id), connection_id, operator_id=operator_id, **attributes))
    return message.key, message.value


def altered(record_: tuple[bytes, bytes], **changes: Any) -> tuple[bytes, bytes]:
    """The record with CloudEvents attributes replaced (``data`` too)."""
    key, value = record_
    body = json.loads(value)
    body.update(changes)
    return key, json.dumps(body).encode()


def poison(operator_id: str) -> dict[str, tuple[bytes | None, bytes | None]]:
    """One record per kind of poison, each of a connection no one else names."""
    return {
        "undecodable bytes": (b"conn-x", b"\xff\xfe not json at all"),
        "schema-invalid event": altered(good(uid("conn"), operator_id), data={"connection_id": 42}),
        "unknown event type": altered(good(uid("conn"), operator_id), type="jp.smguard.NoSuchEvent"),
        "future schema version": altered(good(uid("conn"), operator_id), schemaversion=99),
        "no key": (None, good(uid("conn"), operator_id)[1]),
    }


async def dead_letters(settings, *, at_least: int) -> list[Any]:
    """The records on the dead-letter topic, once there are ``at_least``."""
    consumer = clients.consumer(settings, settings.topic(DEAD_LETTERS), auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    found: list[Any] = []
    try:

        async def enough() -> bool:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                found.extend(records)
            return len(found) >= at_least

        await eventually(enough, timeout=30, what=f"{at_least} dead letters")
    finally:
        await consumer.stop()
    return found


async def test_each_kind_of_poison_is_dead_lettered_with_its_reason_and_a_good_record_after_it_is_applied(settings, operator_id):
    kinds = poison(operator_id)
    after = uid("conn")
    async with running(settings) as client:
        await send_raw(settings, CONNECTION_EVENTS, [*kinds.values(), good(after, operator_id)])
        await known(client.svc, after)
        letters = await dead_letters(settings, at_least=len(kinds))
        reasons = {dict(r.headers)["dlq.reason"].decode() for r in letters}
        parked = (await client.get("/ops/parked", headers=bearer(settings, "utility_soc"))).json()
    values = {r.value for r in letters}
    for kind, (_, value) in kinds.items():
        held = value in values
        record(fault=f"poison on an event topic: {kind}", invariant="dead-lettered with its reason; the next good record applied",
               outcome="held" if held else "broken", dead_lettered=len(letters))  # fmt: skip
    assert all(value in values for _, value in kinds.values()), reasons
    assert all(dict(r.headers)["dlq.consumer"] == b"incident" for r in letters)
    assert any("newer" in reason for reason in reasons) and any("no key" in reason for reason in reasons)
    assert any("NoSuchEvent" in reason for reason in reasons) and any("invalid payload" in reason for reason in reasons)
    assert parked["dead_lettered"] >= len(kinds)


async def test_the_same_event_twice_is_applied_once_live_and_on_catch_up(settings, operator_id, tmp_path):
    op = bearer(settings, "operator", operator_id)
    async with running(settings) as client:
        incident_id = (await client.post("/incidents", json=incident_body(), headers=op)).json()["id"]
        overdue = encode(envelope(report_overdue(incident_id), incident_id, sequence=2, operator_id=operator_id))
        await send_raw(settings, INCIDENT_EVENTS, [(overdue.key, overdue.value), (overdue.key, overdue.value)])

        async def overdue_seen() -> Any:
            view = (await client.get(f"/incidents/{incident_id}", headers=op)).json()
            return view if view.get("overdue") else None

        live = await eventually(overdue_seen, what="the overdue event applied")
    # catch-up: a new instance's data folder — read model and store rebuilt from the topics
    fresh = make_settings(settings.kafka_bootstrap_servers, settings.topic_prefix, tmp_path / "fresh")
    async with running(fresh) as client:
        rebuilt = await eventually(overdue_seen, what="the overdue event applied on catch-up")
        decided = await client.post(f"/incidents/{incident_id}/reports/initial", json=INITIAL, headers=op)
        after = (await eventually(lambda: _version_at_least(client, incident_id, op, 3), what="the report applied"))
    held = (
        len(live["overdue"]) == 1 and live["version"] == 2 and len(rebuilt["overdue"]) == 1 and rebuilt["version"] == 2
        and decided.status_code == 201 and after["version"] == 3
    )  # fmt: skip
    record(fault="the same event id twice on an event topic", invariant="applied once; versions not shifted on catch-up",
           outcome="held" if held else "broken", live_version=live["version"], rebuilt_version=rebuilt["version"],
           next_version=after["version"])  # fmt: skip
    assert len(live["overdue"]) == 1 and live["version"] == 2, live
    assert live["timeline_count"] == rebuilt["timeline_count"] and rebuilt["version"] == 2, rebuilt
    assert decided.status_code == 201, decided.text
    assert after["version"] == 3 and after["timeline_count"] == live["timeline_count"] + 1


async def _version_at_least(client: Any, incident_id: str, headers: dict[str, str], version: int) -> Any:
    view = (await client.get(f"/incidents/{incident_id}", headers=headers)).json()
    return view if view.get("version", 0) >= version else None


async def test_the_audit_log_keeps_poison_as_it_is_and_goes_on(settings, operator_id):
    kinds = poison(operator_id)
    after = uid("conn")
    app = audit_app(settings)
    async with serving(app) as client:
        await send_raw(settings, CONNECTION_EVENTS, [*kinds.values(), good(after, operator_id)])
        auditor = bearer(settings, "auditor")

        async def logged() -> Any:
            answer = await client.get("/audit/entries", params={"subject": after}, headers=auditor)
            return answer.json() if answer.status_code == 200 and answer.json() else None

        await eventually(logged, what="the good record after the poison logged")
        verified = (await client.get("/audit/verify", headers=auditor)).json()
    record(fault="poison on an event topic, read by the audit log", invariant="kept as it is (tamper-evident), the log goes on and verifies",
           outcome="held" if verified["ok"] and verified["size"] >= len(kinds) + 1 else "broken", size=verified["size"])  # fmt: skip
    assert verified["ok"] and verified["size"] >= len(kinds) + 1, verified
