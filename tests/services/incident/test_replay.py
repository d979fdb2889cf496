"""The replay protocol of the incident service on a real broker: the live read model equals the stream's."""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import datetime, timedelta, timezone

from tests.factories import bearer, eventually, serving

from tests.services.incident.helpers import (
    CAUSE, DETECTED, INITIAL, blocked, incident_body, listening, publish_connection_events, registered, uid,
)  # fmt: skip
from services.audit.entrypoints import cli_replay
from services.incident.bootstrap import build_app
from services.incident.replay import read_models

VULNERABILITY = {"title": "ファームウェアの重大な脆弱性", "severity": "critical", "asset_kind": "special_meter",
                 "maker": "メーカーA", "model": "SM-1", "firmware": ">=1.0,<1.4"}  # fmt: skip


def clock() -> datetime:
    """A fixed clock shortly after detection: no report deadline passes during these tests."""
    return DETECTED + timedelta(hours=1)


def anomaly(connection_id: str, signal_id: str) -> dict:
    return {"signal_id": signal_id, "connection_id": connection_id, "type": "unauthorized_access",
            "severity": "high", "observed_at": DETECTED.isoformat(), "evidence": {"ルール": "HES-17"}}  # fmt: skip


async def some_history(client, settings, operator_id: str) -> dict[str, str]:
    """Incidents with reports, anomalies and a vulnerability, and connection events; waits until all are projected."""
    connection_id = uid("conn")
    op, soc, sensor = bearer(settings, "operator", operator_id), bearer(settings, "utility_soc"), bearer(settings, "sensor")
    reported = (await client.post("/incidents", json=incident_body(), headers=op)).json()["id"]
    await client.post(f"/incidents/{reported}/reports/initial", json=INITIAL, headers=op)
    await client.post(f"/incidents/{reported}/reports/cause", json=CAUSE, headers=op)
    vulnerable = (await client.post("/vulnerabilities", json=VULNERABILITY, headers=soc)).json()["incident_id"]
    await publish_connection_events(
        settings, [registered(connection_id, operator_id), blocked(connection_id, operator_id, vulnerable)]
    )
    svc = client._transport.app.state.incident  # httpx's ASGI transport keeps the app it serves
    await eventually(lambda: svc.directory.connection(connection_id), what="the connection is known")
    for n in range(3):
        assert (await client.post("/anomalies", json=anomaly(connection_id, f"sig-{n}"), headers=sensor)).status_code == 202
    await eventually(lambda: svc.directory.blocked_for(vulnerable), what="the block is known")
    await eventually(lambda: sum(v["anomaly_count"] for v in svc.views.views.values()) == 3, what="anomalies projected")
    return {"reported": reported, "vulnerable": vulnerable, "connection": connection_id}


async def live_read_model(client, settings) -> dict:
    answer = await client.get("/ops/read-model", headers=bearer(settings, "auditor"))
    assert answer.status_code == 200
    return answer.json()


class TestReadModelsAtTheLivePositions:
    async def test_the_replayed_read_models_equal_the_live_snapshot(self, settings, operator_id):
        async with serving(build_app(settings, clock=clock)) as client:
            ids = await some_history(client, settings, operator_id)
            live = await live_read_model(client, settings)
            replayed = await read_models(settings, positions=live["positions"])
        assert replayed == live["read_models"]
        incidents = replayed["incidents"]
        assert len(incidents) == 3 and len(incidents[ids["reported"]]["reports"]["cause"]) == 1
        assert replayed["blocked"] == {ids["vulnerable"]: {ids["connection"]: operator_id}}
        assert replayed["connections"][ids["connection"]] == {"operator_id": operator_id, "kind": "special_meter"}

    async def test_events_that_arrive_after_the_snapshot_are_left_out_of_its_replay(self, settings, operator_id):
        op = bearer(settings, "operator", operator_id)
        async with serving(build_app(settings, clock=clock)) as client:
            first = (await client.post("/incidents", json=incident_body(), headers=op)).json()["id"]
            await eventually(lambda: client._transport.app.state.incident.views.views.get(first), what="projected")
            live = await live_read_model(client, settings)
            later = (await client.post("/incidents", json=incident_body(title="後から"), headers=op)).json()["id"]
            replayed = await read_models(settings, positions=live["positions"])
            everything = await read_models(settings)
        assert replayed == live["read_models"] and set(replayed["incidents"]) == {first}
        assert set(everything["incidents"]) == {first, later}

    async def test_only_the_soc_and_auditors_may_read_it(self, settings, operator_id):
        async with serving(build_app(settings, clock=clock)) as client:
            anonymous = await client.get("/ops/read-model")
            refused = [
                (await client.get("/ops/read-model", headers=bearer(settings, role, operator_id))).status_code
                for role in ("operator", "utility_desk", "sensor")
            ]
            soc = await client.get("/ops/read-model", headers=bearer(settings, "utility_soc"))
        assert anonymous.status_code == 401 and refused == [403, 403, 403]
        assert soc.status_code == 200 and soc.json() == {"positions": {}, "read_models": {"incidents": {}, "connections": {}, "blocked": {}}}


class TestTheReplayCommand:
    async def test_no_difference_when_healthy_then_the_altered_view_is_named(self, settings, operator_id, capsys):
        app = build_app(settings, clock=clock)
        async with serving(app) as client:
            ids = await some_history(client, settings, operator_id)
            async with listening(app, lifespan="off") as url:
                args = argparse.Namespace(service="incident", until=None, url=url)
                healthy = await asyncio.to_thread(cli_replay.main, args, settings)
                app.state.incident.views.views[ids["reported"]]["status"] = "cleared"  # behind the system's back
                altered = await asyncio.to_thread(cli_replay.main, args, settings)
        out = capsys.readouterr().out
        assert healthy == 0 and "incident: no difference" in out
        assert altered == 1 and f"incidents.{ids['reported']}.status: live='cleared' replay='open'" in out

    async def test_until_shows_the_state_as_of_a_moment(self, settings, operator_id, capsys):
        op = bearer(settings, "operator", operator_id)
        async with serving(build_app(settings, clock=clock)) as client:
            before = (await client.post("/incidents", json=incident_body(), headers=op)).json()["id"]
            moment = datetime.now(timezone.utc)
            after = (await client.post("/incidents", json=incident_body(title="その後"), headers=op)).json()["id"]
            await client.post(f"/incidents/{before}/reports/initial", json=INITIAL, headers=op)
        args = argparse.Namespace(service="incident", until=moment, url=None)
        assert await asyncio.to_thread(cli_replay.main, args, settings) == 0
        incidents = json.loads(capsys.readouterr().out)["incident"]["incidents"]
        assert set(incidents) == {before} and after not in incidents
        assert incidents[before]["reports"]["initial"] == [] and incidents[before]["version"] == 1
