"""A hostile tenant's oversized, deeply nested and malformed requests, sent at the same time as another
tenant's ordinary ones, against the real incident and connection services on the real broker."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.factories import bearer, eventually, serving, uid
from tests.services.connection.helpers import app_for, connection_body, onboard
from tests.services.incident.helpers import incident_body, running

pytestmark = pytest.mark.integration


def nested(depth: int) -> object:
    """A JSON value ``depth`` lists deep."""
    value: object = "底"
    for _ in range(depth):
        value = [value]
    return value


async def streamed(total: int):
    """A chunked body of ``total`` bytes (no Content-Length): only counting tells it is too large."""
    yield b'{"category": "other", "title": "'
    for _ in range(total // 65536):
        yield b"x" * 65536


def hostile(settings, incidents, connections, operator_id: str) -> list[tuple[str, object]]:
    """(what, pending answer) of each hostile request; ``what`` says the answer expected."""
    staff = bearer(settings, "operator", operator_id) | {"content-type": "application/json"}
    post_incident = lambda body: incidents.post("/incidents", content=body, headers=staff)  # noqa: E731
    post_connection = lambda body: connections.post("/connections", content=body, headers=staff)  # noqa: E731
    dumps = lambda value: json.dumps(value).encode()  # noqa: E731
    return [
        ("413", post_incident(dumps(incident_body(description="報" * 2_400_000)))),  # a 7 MB report
        ("413", incidents.post("/incidents", content=streamed(3 << 20), headers=staff)),
        ("413", post_connection(dumps(connection_body(maker="x" * (2 << 20))))),
        ("4xx", post_incident(b"[" * 200_000 + b"]" * 200_000)),  # nested past any parser's recursion
        ("422", post_incident(dumps(incident_body(affected_assets=nested(50))))),
        ("422", post_incident(b'{"category": "other", "title": ')),  # cut short
        ("422", post_incident(dumps(incident_body(detected_at="2099-01-01T00:00:00+09:00")))),  # never overdue
        ("422", post_incident(dumps(incident_body(title="件" * 501)))),
        ("422", post_incident(dumps(incident_body(affected_assets=[{"kind": "smart_meter", "id": "m"}] * 201)))),
        ("422", post_connection(dumps(connection_body(smart_meter_ids=[uid("sm") for _ in range(1001)])))),
        ("422", post_connection(dumps(connection_body(secrets={"auth_id": "a", "password": "p" * 257, "pairing_id": "x"})))),
        ("422", post_connection(dumps(connection_body(kind={"$where": nested(30)})))),
    ]


async def test_hostile_requests_change_nothing_and_stop_no_one_else(settings) -> None:
    good, evil = uid("op-good"), uid("op-evil")
    connection_app = app_for(settings)
    async with running(settings) as incidents, serving(connection_app) as connections:
        await eventually(lambda: connection_app.state.runtime.store.ready, what="the connection service owns its partitions")
        await onboard(connections, settings, good)
        await onboard(connections, settings, evil)
        staff = bearer(settings, "operator", good)
        ordinary = [incidents.post("/incidents", json=incident_body(title=f"報告 {i}"), headers=staff) for i in range(8)]
        ordinary += [connections.post("/connections", json=connection_body(), headers=staff) for _ in range(4)]
        attacks = hostile(settings, incidents, connections, evil)
        readiness = [client.get("/readyz") for client in (incidents, connections) for _ in range(6)]

        answers = await asyncio.gather(*ordinary, *(pending for _, pending in attacks), *readiness)

        done, refused, ready = answers[: len(ordinary)], answers[len(ordinary) : -len(readiness)], answers[-len(readiness) :]
        assert [a.status_code for a in done] == [201] * len(ordinary), [a.text for a in done]
        for (expected, _), answer in zip(attacks, refused):
            assert 400 <= answer.status_code < 500, answer.text[:300]
            assert expected == "4xx" or answer.status_code == int(expected), (expected, answer.status_code, answer.text[:300])
            assert "code" in answer.json()
        assert [a.status_code for a in ready] == [200] * len(readiness)
        assert all("p" * 257 not in a.text for a in refused)  # a refused secret is not echoed
        as_evil = bearer(settings, "operator", evil)
        assert (await incidents.get("/incidents", headers=as_evil)).json()["total"] == 0
        assert (await connections.get("/connections", headers=as_evil)).json()["total"] == 0
        await eventually(
            lambda: _count(incidents, "/incidents", staff, 8), what="the good tenant's incidents all shown"
        )
        assert (await incidents.get("/readyz")).status_code == 200
        assert (await connections.get("/readyz")).status_code == 200


async def _count(client, path: str, headers: dict[str, str], expected: int) -> bool:
    return (await client.get(path, headers=headers)).json()["total"] == expected
