"""Replaying the incident read models on a real broker: the live read model equals the stream's."""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import datetime, timezone

from shared.cli import replay as cli_replay
from shared.replay import rebuild
from services.incident.bootstrap import READ_MODELS
from services.incident.projections.incidents import INCIDENTS
from tests.factories import bearer, connection_blocked, connection_registered, eventually, listening, uid
from tests.services.incident.helpers import CAUSE, INITIAL, VULNERABILITY, anomaly_body, connection_service, incident_body, known, running


async def some_history(client, settings, operator_id: str) -> dict[str, str]:
    """Incidents with reports, anomalies and a vulnerability, and connection events; waits until all are projected."""
    connection_id = uid("conn")
    op, soc, sensor = bearer(settings, "operator", operator_id), bearer(settings, "utility_soc"), bearer(settings, "sensor")
    reported = (await client.post("/incidents", json=incident_body(), headers=op)).json()["id"]
    await client.post(f"/incidents/{reported}/reports/initial", json=INITIAL, headers=op)
    await client.post(f"/incidents/{reported}/reports/cause", json=CAUSE, headers=op)
    vulnerable = (await client.post("/vulnerabilities", json=VULNERABILITY, headers=soc)).json()["incident_id"]
    async with connection_service(settings) as connections:
        await connections.append(
            connection_id, [connection_registered(connection_id, operator_id), connection_blocked(connection_id, operator_id, vulnerable)]
        )
    svc = client.svc
    await known(svc, connection_id)
    for n in range(3):
        assert (await client.post("/anomalies", json=anomaly_body(connection_id, f"sig-{n}"), headers=sensor)).status_code == 202
    await eventually(lambda: svc.directory.blocked_for(vulnerable), what="the block is known")
    [anomalous] = svc.store.find("connection", connection_id)
    await eventually(lambda: (svc.views.incident(anomalous) or {}).get("anomaly_count") == 3, what="anomalies projected")
    return {"reported": reported, "vulnerable": vulnerable, "anomalous": anomalous, "connection": connection_id}


async def live_read_model(client, settings) -> dict:
    answer = await client.get("/ops/read-model", headers=bearer(settings, "auditor"))
    assert answer.status_code == 200
    return answer.json()


class TestReadModelsAtTheLivePositions:
    async def test_the_replayed_read_models_equal_the_live_snapshot(self, settings, operator_id):
        async with running(settings) as client:
            ids = await some_history(client, settings, operator_id)
            live = await live_read_model(client, settings)
            replayed = await rebuild(settings, READ_MODELS, positions=live["positions"])
        assert replayed == live["read_models"]
        incidents = replayed["incidents"]
        assert len(incidents) == 3 and len(incidents[ids["reported"]]["reports"]["cause"]) == 1
        assert [a["signal_id"] for a in replayed["anomalies"][ids["anomalous"]]] == ["sig-0", "sig-1", "sig-2"]
        assert replayed["blocked"] == {ids["vulnerable"]: {ids["connection"]: operator_id}}
        assert replayed["connections"][ids["connection"]] == {"operator_id": operator_id, "kind": "special_meter"}

    async def test_events_that_arrive_after_the_snapshot_are_left_out_of_its_replay(self, settings, operator_id):
        op = bearer(settings, "operator", operator_id)
        async with running(settings) as client:
            first = (await client.post("/incidents", json=incident_body(), headers=op)).json()["id"]
            await eventually(lambda: client.svc.views.incident(first), what="projected")
            live = await live_read_model(client, settings)
            later = (await client.post("/incidents", json=incident_body(title="後から"), headers=op)).json()["id"]
            replayed = await rebuild(settings, READ_MODELS, positions=live["positions"])
            everything = await rebuild(settings, READ_MODELS)
        assert replayed == live["read_models"] and set(replayed["incidents"]) == {first}
        assert set(everything["incidents"]) == {first, later}

    async def test_a_fresh_service_shows_its_empty_read_model_to_the_soc_and_auditors_only(self, settings, operator_id):
        empty = {"positions": {}, "read_models": {"incidents": {}, "anomalies": {}, "connections": {}, "blocked": {}}}
        callers = {"anonymous": {}, "operator": bearer(settings, "operator", operator_id)} | {
            role: bearer(settings, role) for role in ("utility_desk", "sensor", "utility_soc", "auditor")
        }
        async with running(settings) as client:
            answers = {who: await client.get("/ops/read-model", headers=headers) for who, headers in callers.items()}
        assert {who: a.status_code for who, a in answers.items()} == {
            "anonymous": 401, "operator": 403, "utility_desk": 403, "sensor": 403, "utility_soc": 200, "auditor": 200,
        }  # fmt: skip
        assert answers["utility_soc"].json() == answers["auditor"].json() == empty


class TestTheReplayCommand:
    async def test_no_difference_when_healthy_then_the_altered_view_is_named(self, settings, operator_id, capsys):
        async with running(settings) as client:
            ids = await some_history(client, settings, operator_id)
            async with listening(client.app, lifespan="off") as url:
                args = argparse.Namespace(service="incident", until=None, url=url)
                healthy = await asyncio.to_thread(cli_replay.main, args, settings)
                views = client.svc.views
                views.docs.put(INCIDENTS, ids["reported"], views.incident(ids["reported"]) | {"status": "cleared"})  # behind the system's back
                altered = await asyncio.to_thread(cli_replay.main, args, settings)
        out = capsys.readouterr().out
        assert healthy == 0 and "incident: no difference" in out
        assert altered == 1 and f"incidents.{ids['reported']}.status: live='cleared' replay='open'" in out

    async def test_until_shows_the_state_as_of_a_moment(self, settings, operator_id, capsys):
        op = bearer(settings, "operator", operator_id)
        async with running(settings) as client:
            before = (await client.post("/incidents", json=incident_body(), headers=op)).json()["id"]
            moment = datetime.now(timezone.utc)
            after = (await client.post("/incidents", json=incident_body(title="その後"), headers=op)).json()["id"]
            await client.post(f"/incidents/{before}/reports/initial", json=INITIAL, headers=op)
        args = argparse.Namespace(service="incident", until=moment, url=None)
        assert await asyncio.to_thread(cli_replay.main, args, settings) == 0
        incidents = json.loads(capsys.readouterr().out)["incident"]["incidents"]
        assert set(incidents) == {before} and after not in incidents
        assert incidents[before]["reports"]["initial"] == [] and incidents[before]["version"] == 1
