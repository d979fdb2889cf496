"""Two instances of the incident service on one prefix: each decides for the partitions it owns, any answers."""

from __future__ import annotations

from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, AsyncIterator

import httpx
import pytest

from shared.config import Settings
from shared.services import SERVICES
from tests.factories import bearer, eventually, listening, uid
from tests.services.incident.helpers import INITIAL, anomaly_body, incident_body, known, registered, running


class Later:
    """An ASGI app serving the app set later: the port is known before the app that must advertise it is built."""

    app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


@asynccontextmanager
async def instance(settings: Settings, k: int, stack: AsyncExitStack) -> AsyncIterator[httpx.AsyncClient]:
    """Instance ``k`` with a data folder of its own, on a real port that is the one it advertises to the others."""
    proxy = Later()
    port = int((await stack.enter_async_context(listening(proxy, lifespan="off"))).rsplit(":", 1)[1])
    ports = {"incident_port": port} if k == 0 else {"instance_port_base": port - SERVICES.index("incident")}
    own = settings.model_copy(update={"instance": k, "data_dir": settings.data_dir / f"instance-{k}", **ports})
    assert own.port_of("incident") == port
    async with running(own) as client:
        proxy.app = client.app
        yield client


@pytest.fixture
async def pair(settings):
    """Instances 0 and 1, once each owns its share of the partitions and knows where the other is."""
    async with AsyncExitStack() as stack:
        first = await stack.enter_async_context(instance(settings, 0, stack))
        second = await stack.enter_async_context(instance(settings, 1, stack))
        stores = [first.svc.store, second.svc.store]
        await eventually(lambda: all(s.owned and s.ready and len(set(s.ownership.owners.values())) == 2 for s in stores),
                         what="both own partitions")  # fmt: skip
        assert not stores[0].owned & stores[1].owned
        yield first, second


async def test_an_anomaly_posted_to_an_instance_that_does_not_own_its_connection_is_decided_by_the_owner(settings, pair, operator_id):
    first, second = pair
    stores = [first.svc.store, second.svc.store]  # the connection is the second's: the first forwards
    connection_id = next(c for c in (uid("conn") for _ in range(100)) if stores[0].partition_of(c) in stores[1].owned)
    await registered(settings, connection_id, operator_id)
    await known(first.svc, connection_id)
    await known(second.svc, connection_id)
    accepted = await first.post("/anomalies", json=anomaly_body(connection_id, "sig-1"), headers=bearer(settings, "sensor"))
    assert accepted.status_code == 202, accepted.text
    incident_id = accepted.json()["incident_id"]
    assert stores[1].partition_of(incident_id) == stores[1].partition_of(connection_id)
    assert stores[1].find("connection", connection_id) == [incident_id] and stores[0].snapshot(incident_id) is None
    soc = bearer(settings, "utility_soc")
    detail = await eventually(lambda: _found(first, f"/incidents/{incident_id}", soc), what="the first instance reads it")
    assert detail["anomaly_count"] == 1 and detail["connection_id"] == connection_id
    report = await first.post(f"/incidents/{incident_id}/reports/initial", json=INITIAL, headers=soc)
    assert report.status_code == 201 and report.json() == {"revision": 1, "version": 3}


async def test_each_instance_creates_incidents_on_the_partitions_it_owns(settings, pair, operator_id):
    stores = [client.svc.store for client in pair]
    op = bearer(settings, "operator", operator_id)
    for client, store in zip(pair, stores):
        created = await client.post("/incidents", json=incident_body(), headers=op)
        assert created.status_code == 201 and store.partition_of(created.json()["id"]) in store.owned


async def _found(client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> Any:
    answer = await client.get(url, headers=headers)
    return answer.json() if answer.status_code == 200 else None

