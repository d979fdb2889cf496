"""The connection service beside the real incident service on one broker: the agreement's part 2 end to end."""

from __future__ import annotations

from contextlib import AsyncExitStack
from datetime import datetime, timezone

from services.incident.bootstrap import build_app as build_incident_app
from tests.factories import bearer, eventually, serving, uid
from tests.services.connection.helpers import app_for, inbox_decided, onboard, register, requests_to, status_of

CAUSE = {
    "cause": "認証情報の使い回し",
    "countermeasure": "パスワード変更",
    "countermeasure_plan": "全端末で実施",
    "recurrence_prevention": "定期ローテーション",
}


async def _anomaly_accepted(incidents, settings, connection_id):  # type: ignore[no-untyped-def]
    body = {
        "signal_id": uid("sig"),
        "connection_id": connection_id,
        "type": "unauthorized_access",
        "severity": "high",
        "observed_at": datetime.now(timezone.utc).isoformat(),
        "evidence": {"src": "10.0.0.7"},
    }
    response = await incidents.post("/anomalies", json=body, headers=bearer(settings, "sensor"))
    return response.json() if response.status_code == 202 else None


async def test_a_sensor_anomaly_blocks_and_clearing_plus_both_approvals_reconnect(settings, peer):
    soc = bearer(settings, "utility_soc")
    async with AsyncExitStack() as stack:
        connections = await stack.enter_async_context(serving(app_for(settings, peer)))
        incidents = await stack.enter_async_context(serving(build_incident_app(settings)))
        operator = uid("op")
        staff = bearer(settings, "operator", operator)
        await onboard(connections, settings, operator)
        connection_id = await register(connections, settings, operator)
        accepted = await eventually(
            lambda: _anomaly_accepted(incidents, settings, connection_id), what="the incident service knows it"
        )
        incident_id = accepted["incident_id"]
        body = await eventually(
            lambda: _with_status(connections, settings, connection_id, "blocked"), what="blocked by policy"
        )
        assert body["blocking_incidents"][0]["incident_id"] == incident_id

        filed = await incidents.post(f"/incidents/{incident_id}/reports/cause", json=CAUSE, headers=soc)
        assert filed.status_code == 201, filed.text
        cleared = await incidents.post(f"/incidents/{incident_id}/clear", json={"summary": "解消"}, headers=soc)
        assert cleared.status_code == 200, cleared.text
        await eventually(
            lambda: _with_status(connections, settings, connection_id, "awaiting_approval"), what="released"
        )
        assert (await connections.post(f"/connections/{connection_id}/approvals", json={}, headers=soc)).status_code == 201
        last = await connections.post(f"/connections/{connection_id}/approvals", json={}, headers=staff)
        assert last.json()["reconnected"] is True
        await eventually(lambda: _enforced_reconnect(peer, connection_id), what="reconnection carried out")


async def test_a_vulnerability_declared_on_the_incident_service_blocks_the_matching_units(settings, peer):
    soc = bearer(settings, "utility_soc")
    async with AsyncExitStack() as stack:
        app = app_for(settings, peer)
        connections = await stack.enter_async_context(serving(app))
        incidents = await stack.enter_async_context(serving(build_incident_app(settings)))
        operators = [uid("op"), uid("op")]
        for operator in operators:
            await onboard(connections, settings, operator)
        hit = [await register(connections, settings, op, model="TK-9", firmware="3.0.1") for op in operators]
        miss = [
            await register(connections, settings, operators[0], model="TK-9", firmware="3.1.0"),
            await register(connections, settings, operators[1], model="TK-8", firmware="3.0.1"),
        ]
        declared = await incidents.post(
            "/vulnerabilities",
            json={"title": "TK-9 認証回避", "severity": "critical", "asset_kind": "special_meter",
                  "maker": "東海計器", "model": "TK-9", "firmware": "<3.1"},
            headers=soc,
        )
        assert declared.status_code == 201, declared.text
        for connection_id in hit:
            await eventually(lambda: _with_status(connections, settings, connection_id, "blocked"), what="blocked")
        await eventually(lambda: inbox_decided(app), what="every command decided")
        for connection_id in miss:
            assert (await status_of(connections, settings, connection_id))["status"] == "active"


async def _with_status(client, settings, connection_id, status):  # type: ignore[no-untyped-def]
    body = await status_of(client, settings, connection_id)
    return body if body["status"] == status else None


def _enforced_reconnect(peer, connection_id):  # type: ignore[no-untyped-def]
    return any(r["action"] == "reconnect" and r["connection_id"] == connection_id and r["ok"] for r in requests_to(peer))
