"""A restart on the real broker: the read models resume where they stopped, the aggregates come from snapshots."""

from __future__ import annotations

from datetime import datetime, timezone

from services.connection.bootstrap import build_app
from tests.factories import bearer, eventually, serving, uid
from tests.services.connection.helpers import anomaly, cleared, incident_writer, onboard, own_settings, register, status_of

NOW = datetime(2025, 6, 15, 3, 0, tzinfo=timezone.utc)  # before any yearly duty falls due: the check appends nothing


def app_at(settings, peer):  # type: ignore[no-untyped-def]
    return build_app(settings, own_settings(peer), clock=lambda: NOW)


async def enforced(client, settings, connection_id: str) -> dict | None:  # type: ignore[no-untyped-def]
    body = await status_of(client, settings, connection_id)
    return body if body["enforcement"] == "enforced" else None


async def test_a_restart_resumes_the_read_models_and_restores_the_aggregates_without_folding_events(settings, peer):
    operator, incident = uid("op"), uid("inc")
    async with serving(app_at(settings, peer)) as client, incident_writer(settings) as feed:
        await onboard(client, settings, operator)
        connection_id = await register(client, settings, operator)
        await feed.append(incident, anomaly(incident, connection_id, operator))
        before = await eventually(lambda: enforced(client, settings, connection_id), what="the block enforced")
        listed = (await client.get("/connections", headers=bearer(settings, "utility_soc"))).json()
    app = app_at(settings, peer)
    async with serving(app) as client, incident_writer(settings) as feed:
        runtime = app.state.runtime
        await eventually(lambda: runtime.store.ready, what="the partitions restored")
        await runtime.wait_caught_up()
        assert runtime.store.restored_events == 0  # every snapshot came from the local store, none was folded
        assert [s.applied for s in runtime.subscribers] == [0]  # the read models resumed after what they had
        assert await status_of(client, settings, connection_id) == before
        assert (await client.get("/connections", headers=bearer(settings, "utility_soc"))).json() == listed
        await feed.append(incident, cleared(incident))  # the restored aggregate decides on
        await eventually(lambda: _status(client, settings, connection_id, "awaiting_approval"), what="released")
        for headers in (bearer(settings, "utility_soc"), bearer(settings, "operator", operator)):
            assert (await client.post(f"/connections/{connection_id}/approvals", json={}, headers=headers)).status_code == 201
        await eventually(lambda: _status(client, settings, connection_id, "active"), what="reconnected")


async def _status(client, settings, connection_id: str, status: str) -> bool:  # type: ignore[no-untyped-def]
    return (await status_of(client, settings, connection_id))["status"] == status
