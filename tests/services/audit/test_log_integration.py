"""The audit log against a real broker: every topic logged, rebuilt to the same root, verified."""

from __future__ import annotations

from services.audit.bootstrap import build_app
from services.audit.config import log_db_path
from tests.factories import bearer, eventually, serving
from tests.services.audit.helpers import all_entries, at_least, produce_one_of_each


class TestTheLog:
    async def test_events_of_every_topic_appear_in_the_log(self, settings):
        ids = await produce_one_of_each(settings)
        async with serving(build_app(settings)) as client:
            entries = await eventually(lambda: at_least(all_entries(client, settings), 6), what="six entries")
        assert {e["topic"] for e in entries} == {
            "smguard.operator.events", "smguard.contact.events", "smguard.incident.events",
            "smguard.connection.events", "smguard.notification.events"}
        assert {e["subject"] for e in entries} >= {ids["incident"], ids["connection"], ids["notification"]}
        assert any(e["data"]["name"] == "東海スマートエナジー" for e in entries if e["type"] == "OperatorOnboarded")

    async def test_deleting_the_store_and_rebuilding_gives_the_identical_root(self, settings):
        await produce_one_of_each(settings)
        async with serving(build_app(settings)) as client:
            await eventually(lambda: at_least(all_entries(client, settings), 6), what="six entries")
            signed = (await client.post("/audit/checkpoints", headers=bearer(settings, "auditor"))).json()["checkpoint"]
            before = (await client.get("/audit/verify", headers=bearer(settings, "auditor"))).json()
        log_db_path(settings).unlink()
        async with serving(build_app(settings)) as client:
            await eventually(lambda: at_least(all_entries(client, settings), 6), what="rebuilt")
            after = (await client.get("/audit/verify", headers=bearer(settings, "auditor"))).json()
        assert before["ok"] and after["ok"], after
        assert after["root"] == before["root"] == signed["root"]
        assert after["size"] == signed["size"] == 6
        assert after["checkpoints_checked"] == 1

