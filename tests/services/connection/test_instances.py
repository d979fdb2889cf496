"""Two instances of the connection service on one broker: each owns a partition; bulk approval spans both."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from services.connection.bootstrap import build_app
from shared.config import Settings
from tests.factories import bearer, eventually, listening, make_settings, serving, uid
from tests.services.connection.helpers import anomaly, cleared, incident_writer, onboard, own_settings, register, status_of


class Later:
    """An ASGI app that is the one given later: the port is known before the app is built for it."""

    app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


async def instances(stack: AsyncExitStack, settings: Settings, tmp_path: Path, peer) -> list[tuple[Any, Any]]:  # type: ignore[no-untyped-def]
    """Instances 0 and 1 served over HTTP, each advertising its own URL; (app, client) of each."""
    shims = [Later(), Later()]
    urls = [await stack.enter_async_context(listening(shim, lifespan="off")) for shim in shims]
    ports = [int(url.rsplit(":", 1)[1]) for url in urls]
    started = []
    for k, shim in enumerate(shims):
        own = make_settings(
            settings.kafka_bootstrap_servers, settings.topic_prefix, tmp_path / f"data-{k}", instance=k,
            connection_port=ports[0], instance_port_base=ports[1] - 1,
        )  # fmt: skip
        app = shim.app = build_app(own, own_settings(peer))
        started.append((app, await stack.enter_async_context(serving(app))))
    stores = [app.state.runtime.store for app, _ in started]
    await eventually(lambda: all(s.ready and len(s.owned) == 1 for s in stores), what="each instance owns a partition")
    return started


async def test_bulk_approval_approves_the_connections_of_both_instances_each_on_its_owner(settings, tmp_path, peer):
    async with AsyncExitStack() as stack:
        (first, at_first), (second, at_second) = await instances(stack, settings, tmp_path, peer)
        feed = await stack.enter_async_context(incident_writer(settings))
        operator, incident = uid("op"), uid("inc")
        await onboard(at_first, settings, operator)
        await eventually(lambda: second.state.views.docs.get("operators", operator), what="both know the operator")
        mine = [await register(at_first, settings, operator), await register(at_second, settings, operator)]
        owners = {app.state.runtime.store.partition_of(c) for c, app in zip(mine, (first, second))}
        assert owners == {0, 1} and first.state.runtime.store.owned != second.state.runtime.store.owned
        opened, detected = anomaly(incident, mine[0], operator)
        _, detected_too = anomaly(incident, mine[1], operator)
        await feed.append(incident, [opened, detected, detected_too])
        await eventually(lambda: _all(at_first, settings, mine, "blocked"), what="both blocked, each by its owner")
        await feed.append(incident, cleared(incident))
        await eventually(lambda: _all(at_second, settings, mine, "awaiting_approval"), what="both released")

        by_utility = await at_first.post(f"/incidents/{incident}/approvals", json={}, headers=bearer(settings, "utility_soc"))
        assert by_utility.status_code == 200, by_utility.text
        assert sorted(by_utility.json()["approved"]) == sorted(mine) and by_utility.json()["skipped"] == []
        staff = bearer(settings, "operator", operator)
        by_operator = await at_second.post(f"/incidents/{incident}/approvals", json={}, headers=staff)
        assert sorted(by_operator.json()["reconnected"]) == sorted(mine)
        again = await at_first.post(f"/incidents/{incident}/approvals", json={}, headers=staff)
        assert again.json()["approved"] == [] and len(again.json()["skipped"]) == 2
        await eventually(lambda: _all(at_second, settings, mine, "active"), what="both reconnected")


async def _all(client, settings: Settings, connection_ids: list[str], status: str) -> bool:  # type: ignore[no-untyped-def]
    return all([(await status_of(client, settings, c))["status"] == status for c in connection_ids])
