"""The replay protocol of the connection service on a real broker: the live read model equals the stream's."""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import datetime, timezone
from typing import Any

from services.connection.bootstrap import READ_MODELS
from shared.cli import replay as cli_replay
from shared.replay import rebuild
from tests.factories import bearer, eventually, listening, serving, uid
from tests.services.connection.helpers import (
    anomaly,
    app_for,
    cleared,
    incident_writer,
    known_incident,
    onboard,
    register,
    status_of,
)


async def read_models(settings, **options: Any) -> dict[str, Any]:
    """The connection read models rebuilt from the topics."""
    return await rebuild(settings, READ_MODELS, **options)


async def some_history(client, settings, feed) -> dict[str, Any]:
    """Two operators, three connections, a policy change, an enforced block and an open recommendation."""
    first, second = uid("事業者"), uid("op")
    soc = bearer(settings, "utility_soc")
    for operator in (first, second):
        await onboard(client, settings, operator)
    blocked, recommended = await register(client, settings, first), await register(client, settings, second)
    quiet = await register(client, settings, second, firmware="3.0.0")
    changed = await client.put("/block-policy", json={"serious_vulnerability": "recommend"}, headers=soc)
    assert changed.status_code == 200
    block_incident, rec_incident = uid("inc"), uid("inc")
    await feed.append(block_incident, anomaly(block_incident, blocked, first, kind="unauthorized_access"))
    await feed.append(rec_incident, anomaly(rec_incident, recommended, second, kind="abnormal_communication"))

    async def enforced():
        return (await status_of(client, settings, blocked))["enforcement"] == "enforced"

    async def one_listed():
        return len((await client.get("/block-recommendations", headers=soc)).json()) == 1

    await eventually(enforced, what="the block enforced")
    await eventually(one_listed, what="the recommendation listed")
    return {"operators": (first, second), "blocked": blocked, "recommended": recommended, "quiet": quiet,
            "block_incident": block_incident, "rec_incident": rec_incident}  # fmt: skip


async def live_read_model(client, settings) -> dict:
    answer = await client.get("/ops/read-model", headers=bearer(settings, "auditor"))
    assert answer.status_code == 200, answer.text
    return answer.json()


class TestReadModelsAtTheLivePositions:
    async def test_the_replayed_read_models_equal_the_live_snapshot(self, settings, peer):
        async with serving(app_for(settings, peer)) as client, incident_writer(settings) as feed:
            ids = await some_history(client, settings, feed)
            live = await live_read_model(client, settings)
            replayed = await read_models(settings, positions=live["positions"])
        assert replayed == live["read_models"]
        first, second = ids["operators"]
        assert replayed["operators"] == {first: f"{first} 株式会社", second: f"{second} 株式会社"}
        assert set(replayed["connections"]) == {ids["blocked"], ids["recommended"], ids["quiet"]}
        blocked = replayed["connections"][ids["blocked"]]
        assert blocked["status"] == "blocked" and blocked["enforcement"] == "enforced"
        assert [h["incident_id"] for h in blocked["blocking_incidents"]] == [ids["block_incident"]]
        assert replayed["block_policy"]["serious_vulnerability"] == "recommend"
        (rec,) = replayed["recommendations"].values()
        assert rec["connection_id"] == ids["recommended"] and rec["status"] == "open" and rec["listed"]
        assert replayed["incidents"][ids["rec_incident"]] == {"status": "open", "operator_ids": [second]}

    async def test_events_that_arrive_after_the_snapshot_are_left_out_of_its_replay(self, settings):
        async with serving(app_for(settings)) as client:
            operator = uid("op")
            await onboard(client, settings, operator)
            first = await register(client, settings, operator)
            live = await live_read_model(client, settings)
            later = await register(client, settings, operator)
            replayed = await read_models(settings, positions=live["positions"])
            everything = await read_models(settings)
        assert replayed == live["read_models"] and set(replayed["connections"]) == {first}
        assert set(everything["connections"]) == {first, later}

    async def test_a_cleared_incident_takes_its_recommendation_off_the_list_in_both(self, settings, peer):
        app = app_for(settings, peer)
        async with serving(app) as client, incident_writer(settings) as feed:
            ids = await some_history(client, settings, feed)
            await feed.append(ids["rec_incident"], cleared(ids["rec_incident"]))
            cleared_here = lambda: known_incident(app, ids["rec_incident"])["status"] == "cleared"  # noqa: E731
            await eventually(cleared_here, what="the clearing known")
            live = await live_read_model(client, settings)
            replayed = await read_models(settings, positions=live["positions"])
        assert replayed == live["read_models"]
        (rec,) = replayed["recommendations"].values()
        assert rec["status"] == "open" and not rec["listed"]
        assert replayed["incidents"][ids["rec_incident"]]["status"] == "cleared"

    async def test_only_the_soc_and_auditors_may_read_it(self, settings):
        operator_id = uid("op")
        async with serving(app_for(settings)) as client:
            anonymous = await client.get("/ops/read-model")
            refused = [
                (await client.get("/ops/read-model", headers=bearer(settings, role, operator_id))).status_code
                for role in ("operator", "utility_desk", "sensor")
            ]
            soc = await client.get("/ops/read-model", headers=bearer(settings, "utility_soc"))
        assert anonymous.status_code == 401 and refused == [403, 403, 403]
        assert soc.status_code == 200 and soc.json()["positions"] == {}
        assert soc.json()["read_models"]["connections"] == {} and soc.json()["read_models"]["recommendations"] == {}


class TestTheReplayCommand:
    async def test_no_difference_when_healthy_then_the_altered_view_is_named(self, settings, peer, capsys):
        app = app_for(settings, peer)
        async with serving(app) as client, incident_writer(settings) as feed:
            ids = await some_history(client, settings, feed)
            async with listening(app, lifespan="off") as url:
                args = argparse.Namespace(service="connection", until=None, url=url)
                healthy = await asyncio.to_thread(cli_replay.main, args, settings)
                docs = app.state.views.docs
                doc = docs.get("connections", ids["quiet"])
                doc["public"]["firmware"] = "9.9.9"
                docs.put("connections", ids["quiet"], doc)  # behind the system's back
                altered = await asyncio.to_thread(cli_replay.main, args, settings)
        out = capsys.readouterr().out
        assert healthy == 0 and "connection: no difference" in out
        assert altered == 1 and f"connections.{ids['quiet']}.firmware: live='9.9.9' replay='3.0.0'" in out

    async def test_until_shows_the_state_as_of_a_moment(self, settings, capsys):
        soc = bearer(settings, "utility_soc")
        async with serving(app_for(settings)) as client:
            operator = uid("op")
            await onboard(client, settings, operator)
            before = await register(client, settings, operator)
            moment = datetime.now(timezone.utc)
            after = await register(client, settings, operator)
            changed = await client.put("/block-policy", json={"unauthorized_access": "off"}, headers=soc)
            assert changed.status_code == 200
        args = argparse.Namespace(service="connection", until=moment, url=None)
        assert await asyncio.to_thread(cli_replay.main, args, settings) == 0
        state = json.loads(capsys.readouterr().out)["connection"]
        assert set(state["connections"]) == {before} and after not in state["connections"]
        assert state["block_policy"]["unauthorized_access"] == "auto"
        assert list(state["operators"]) == [operator]
