"""The audit log against a real broker: every topic logged, rebuilt to the same root, verified."""

from __future__ import annotations

from datetime import date

from factories_audit import blocked, ctx, event_stores, opened, registered, uid
from support import bearer, eventually, serving

from services.audit.bootstrap import build_app
from services.audit.config import log_db_path
from shared.events.contact import ContactRegistered
from shared.events.notification import NotificationQueued, Recipient
from shared.events.operator import OperatorOnboarded


async def produce_one_of_each(settings) -> dict[str, str]:
    """One event into each of the incident, connection, operator, contact and notification topics."""
    op, inc, con, note = uid("op"), uid("inc"), uid("con"), uid("note")
    async with event_stores(settings, "producer") as store:
        await store.append(op, [OperatorOnboarded(operator_id=op, name="東海スマートエナジー", agreement_date=date(2025, 1, 1))], context=ctx(op))
        await store.append(op, [ContactRegistered(operator_id=op, kind="applicant", name="山田 太郎", organisation="東海", email="a@example.jp", phone="052")], context=ctx(op))
        await store.append(inc, [opened(inc, op)], context=ctx(op))
        await store.append(con, [registered(con, op)], context=ctx(op))
        await store.append(con, [blocked(con, op, inc)], context=ctx(op))
        queued = NotificationQueued(notification_id=note, domain_event_id="e1", domain_event_type="IncidentOpened",
                                    operator_id=op, subject_id=inc, route="utility_to_operator", channel="email",
                                    recipient=Recipient(kind="applicant", operator_id=op, name="山田 太郎"), title="通知")
        await store.append(note, [queued], context=ctx(op))
    return {"operator": op, "incident": inc, "connection": con, "notification": note}


async def all_entries(client, settings) -> list[dict]:
    answer = await client.get("/audit/entries", params={"limit": 500}, headers=bearer(settings, "auditor"))
    return answer.json()["items"]


class TestTheLog:
    async def test_events_of_every_topic_appear_in_the_log(self, settings):
        ids = await produce_one_of_each(settings)
        async with serving(build_app(settings)) as client:
            entries = await eventually(lambda: _at_least(all_entries(client, settings), 6), what="six entries")
        assert {e["topic"] for e in entries} == {
            "smguard.operator.events", "smguard.contact.events", "smguard.incident.events",
            "smguard.connection.events", "smguard.notification.events"}
        assert {e["subject"] for e in entries} >= {ids["incident"], ids["connection"], ids["notification"]}
        assert any(e["data"]["name"] == "東海スマートエナジー" for e in entries if e["type"] == "OperatorOnboarded")

    async def test_deleting_the_store_and_rebuilding_gives_the_identical_root(self, settings):
        await produce_one_of_each(settings)
        async with serving(build_app(settings)) as client:
            await eventually(lambda: _at_least(all_entries(client, settings), 6), what="six entries")
            signed = (await client.post("/audit/checkpoints", headers=bearer(settings, "auditor"))).json()["checkpoint"]
            before = (await client.get("/audit/verify", headers=bearer(settings, "auditor"))).json()
        log_db_path(settings).unlink()
        async with serving(build_app(settings)) as client:
            await eventually(lambda: _at_least(all_entries(client, settings), 6), what="rebuilt")
            after = (await client.get("/audit/verify", headers=bearer(settings, "auditor"))).json()
        assert before["ok"] and after["ok"], after
        assert after["root"] == before["root"] == signed["root"]
        assert after["size"] == signed["size"] == 6
        assert after["checkpoints_checked"] == 1


async def _at_least(entries, n: int):
    found = await entries
    return found if len(found) >= n else None
