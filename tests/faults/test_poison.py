"""Poison and duplicate records on the event topics: each unreadable record goes to the dead-letter topic with its
reason, a duplicate (the same event id twice) is applied once, and the service goes on — against the real incident
service (its read model's subscriber and its event store) and the audit consumer, on the real broker."""

from __future__ import annotations

import json
from typing import Any, Callable

from services.audit.bootstrap import build_app as audit_app
from shared.envelope import encode
from shared.kafka import clients
from shared.topics import CONNECTION_COMMANDS, CONNECTION_EVENTS, DEAD_LETTERS, INCIDENT_EVENTS
from tests.factories import (
    DETECTED,
    bearer,
    connection_registered,
    envelope,
    eventually,
    incident_opened,
    make_settings,
    report_overdue,
    serving,
    uid,
)
from tests.faults.conftest import send_raw
from tests.faults.report import record
from tests.services.connection.helpers import app_for, known_incident, onboard, register, status_of
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


def poison(
    operator_id: str, readable: Callable[[], tuple[bytes, bytes]] | None = None
) -> dict[str, tuple[bytes | None, bytes | None]]:
    """One record per kind of poison, each made of a fresh ``readable()`` record (default: a registration of a
    connection no one else names)."""
    readable = readable or (lambda: good(uid("conn"), operator_id))
    return {
        "undecodable bytes": (b"conn-x", b"\xff\xfe not json at all"),
        "schema-invalid event": altered(readable(), data={"connection_id": 42}),
        "unknown event type": altered(readable(), type="jp.smguard.NoSuchEvent"),
        "future schema version": altered(readable(), schemaversion=99),
        "no key": (None, readable()[1]),
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


def leak(connection_id: str, operator_id: str, incident_id: str | None = None) -> tuple[bytes, bytes]:
    """A readable IncidentOpened record of a credential leak the utility reported, naming the connection (key, value):
    the router makes it a command that marks the connection compromised."""
    incident_id = incident_id or uid("leak")
    event = incident_opened(incident_id, operator_id, category="credential_leak", connection_id=connection_id)
    message = encode(envelope(event, incident_id, operator_id=operator_id))
    return message.key, message.value


def command_poison(connection_id: str) -> dict[str, tuple[bytes | None, bytes | None]]:
    """One record per kind of poison on the connection service's inbox, each naming the connection: the command
    it is made of (valid) would mark it compromised."""
    valid = {
        "type": "compromised", "source": uid("evt"), "incident_id": uid("leak"), "at": DETECTED.isoformat(),
        "connection_id": connection_id, "opened_by": "utility",
    }  # fmt: skip

    def command(**changes: Any) -> tuple[bytes, bytes]:
        body = {name: value for name, value in (valid | changes).items() if value is not None}
        return connection_id.encode(), json.dumps(body).encode()

    return {
        "undecodable command": (connection_id.encode(), b"\xff\xfe not a command at all"),
        "schema-invalid command": command(connection_id=42),
        "unknown command type": command(type="no_such_command"),
        "command without its source event": command(source=None),
    }


async def test_the_connection_service_dead_letters_each_kind_of_poison_it_reads_acts_on_none_and_goes_on(settings, operator_id):
    settings = settings.model_copy(update={"topic_partitions": 1})  # one order for every event and command
    app = app_for(settings)
    async with serving(app) as client:
        await onboard(client, settings, operator_id)
        named, leaked = await register(client, settings, operator_id), await register(client, settings, operator_id)
        # read by the read models' subscriber and the router (to commands); each readable version would mark `named`
        events = poison(operator_id, lambda: leak(named, operator_id))
        commands = command_poison(named)  # read by the inbox
        await send_raw(settings, INCIDENT_EVENTS, list(events.values()))
        await send_raw(settings, CONNECTION_COMMANDS, list(commands.values()))
        after = uid("leak")
        await send_raw(settings, INCIDENT_EVENTS, [leak(leaked, operator_id, after)])  # behind the poison, in order

        async def marked() -> Any:
            body = await status_of(client, settings, leaked)
            return body if after in body["compromised_by"] else None

        await eventually(marked, what="the leak after the poison routed and decided")
        await eventually(lambda: known_incident(app, after), what="the leak after the poison in the read models")
        untouched = await status_of(client, settings, named)
        letters = await dead_letters(settings, at_least=len(events) + len(commands))
        ready = (await client.get("/readyz")).status_code == 200
    by_value = {r.value: dict(r.headers) for r in letters}
    for kind, (_, value) in [*events.items(), *commands.items()]:
        headers = by_value.get(value, {})
        acted_on = _incident_of(value) in untouched["compromised_by"]
        held = headers.get("dlq.consumer") == b"connection" and not acted_on and ready
        record(fault=f"poison read by the connection service: {kind}",
               invariant="dead-lettered with its reason and acted on by no consumer; the next good record applied",
               outcome="held" if held else "broken", reason=headers.get("dlq.reason", b"").decode()[:200],
               acted_on=acted_on)  # fmt: skip
    reasons = {kind: by_value.get(value, {}).get("dlq.reason", b"").decode() for kind, (_, value) in [*events.items(), *commands.items()]}
    assert all(reasons.values()), reasons
    assert all(by_value[value]["dlq.consumer"] == b"connection" for _, value in [*events.values(), *commands.values()])
    assert "no key" in reasons["no key"] and "NoSuchEvent" in reasons["unknown event type"], reasons
    assert "newer" in reasons["future schema version"] and "invalid payload" in reasons["schema-invalid event"], reasons
    assert all(reasons[kind].startswith("not a connection command") for kind in commands), reasons
    assert not untouched["compromised"] and untouched["compromised_by"] == [], untouched
    assert ready


def _incident_of(value: bytes | None) -> str | None:
    """The incident a poison record (event or command) names, when it can be read at all."""
    try:
        body = json.loads(value or b"")
    except ValueError:
        return None
    return body.get("subject") or body.get("incident_id")
