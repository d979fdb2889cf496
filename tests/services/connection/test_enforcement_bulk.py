"""The bulk form of the enforcement webhook against real HTTP peers on 127.0.0.1: requests sent together
share one signed POST, each is acknowledged (or not) on its own, and smguard run's HES stand-in takes it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, Iterator

import pytest

from services.connection.adapters.webhook import BulkWebhookEnforcement
from services.connection.application.ports import EnforcementCall, EnforcementError
from shared.devhes import DevHes
from shared.localbroker import broker_module
from shared.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from tests.factories import LoopbackServer, eventually, serving, uid
from tests.services.connection.helpers import anomaly, app_for, incident_writer, onboard, register, status_of, stream_types

SECRET = "bulk-enforcement-test-secret-0123456789"


def call(n: int, action: str = "block") -> EnforcementCall:
    return EnforcementCall(request_id=f"req-{n}", action=action, connection_id=f"conn-{n}", operator_id="op-1",
                           smart_meter_ids=(f"sm-{n}",), incident_id="inc-1")  # fmt: skip


class BulkPeer:
    """A peer taking the bulk form (a ``LoopbackServer``): it checks the signature, keeps each body, and answers
    each request ``enforced`` unless its id is in ``refuse`` (answered ``failed``), its connection is in
    ``refuse_once`` (failed the first time only) or its id is in ``omit`` (left out of the results)."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.refuse: set[str] = set()
        self.omit: set[str] = set()
        self.refuse_once: set[str] = set()
        self.status = 200
        self._server = LoopbackServer(self._answer, path="/enforce")
        self.url = self._server.url

    def _answer(self, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        signed = verify(SECRET.encode(), body, timestamp=headers.get(TIMESTAMP_HEADER),
                        signature=headers.get(SIGNATURE_HEADER))  # fmt: skip
        document = json.loads(body)
        self.bodies.append(document)
        self.headers.append(headers)
        results = []
        for r in document["requests"]:
            refused = r["request_id"] in self.refuse or r["connection_id"] in self.refuse_once
            self.refuse_once.discard(r["connection_id"])
            if r["request_id"] not in self.omit:
                results.append({"request_id": r["request_id"], "status": "failed" if refused else "enforced",
                                "error": "meter unreachable"})  # fmt: skip
        return (401 if not signed else self.status), {"id": document["id"], "results": results}

    def stop(self) -> None:
        self._server.stop()


@pytest.fixture
def bulk_peer() -> Iterator[BulkPeer]:
    peer = BulkPeer()
    yield peer
    peer.stop()


async def outcomes(port: BulkWebhookEnforcement, calls: list[EnforcementCall]) -> dict[str, str | None]:
    """Send every call at once; request id → None (acknowledged) or the error the caller got."""
    answers = await asyncio.gather(*(port.send(c) for c in calls), return_exceptions=True)
    for answer in answers:
        assert answer is None or isinstance(answer, EnforcementError), answer
    return {c.request_id: (None if a is None else str(a)) for c, a in zip(calls, answers)}


async def test_requests_sent_together_share_one_signed_post_and_each_is_acknowledged(bulk_peer: BulkPeer) -> None:
    port = BulkWebhookEnforcement(url=bulk_peer.url, key=SECRET.encode(), timeout=10, max_requests=5, linger=30)
    try:
        calls = [call(n) for n in range(5)]
        assert await outcomes(port, calls) == {c.request_id: None for c in calls}
    finally:
        await port.close()
    (body,) = bulk_peer.bodies  # the fifth filled the POST: it went at once, without the 30 s linger
    assert [r["request_id"] for r in body["requests"]] == [c.request_id for c in calls]
    assert body["requests"][0] == {"id": "req-0", "request_id": "req-0", "action": "block", "connection_id": "conn-0",
                                   "operator_id": "op-1", "smart_meter_ids": ["sm-0"], "incident_id": "inc-1"}  # fmt: skip
    assert bulk_peer.headers[0]["X-Smguard-Batch-Id"] == body["id"]


async def test_more_requests_than_one_post_holds_are_split_and_the_rest_go_after_the_linger(bulk_peer: BulkPeer) -> None:
    port = BulkWebhookEnforcement(url=bulk_peer.url, key=SECRET.encode(), timeout=10, max_requests=2, linger=0.05)
    try:
        calls = [call(n) for n in range(5)]
        assert await outcomes(port, calls) == {c.request_id: None for c in calls}
    finally:
        await port.close()
    assert sorted(len(b["requests"]) for b in bulk_peer.bodies) == [1, 2, 2]
    sent = [r["request_id"] for b in bulk_peer.bodies for r in b["requests"]]
    assert sorted(sent) == sorted(c.request_id for c in calls)  # each once


async def test_a_request_refused_or_left_out_fails_alone(bulk_peer: BulkPeer) -> None:
    bulk_peer.refuse, bulk_peer.omit = {"req-1"}, {"req-3"}
    port = BulkWebhookEnforcement(url=bulk_peer.url, key=SECRET.encode(), timeout=10, max_requests=4, linger=30)
    try:
        got = await outcomes(port, [call(n) for n in range(4)])
    finally:
        await port.close()
    assert got == {"req-0": None, "req-1": "refused by the enforcement peer", "req-2": None,
                   "req-3": "not acknowledged in the bulk answer"}  # fmt: skip


async def test_a_post_the_peer_does_not_accept_fails_every_request_in_it(bulk_peer: BulkPeer) -> None:
    bulk_peer.status = 503
    port = BulkWebhookEnforcement(url=bulk_peer.url, key=SECRET.encode(), timeout=10, max_requests=3, linger=30)
    try:
        got = await outcomes(port, [call(n) for n in range(3)])
    finally:
        await port.close()
    assert set(got.values()) == {"HTTP 503 from the enforcement peer"}


async def test_a_wrong_key_is_refused_by_the_peer_and_nothing_counts_as_enforced(bulk_peer: BulkPeer) -> None:
    port = BulkWebhookEnforcement(url=bulk_peer.url, key=b"another-secret-0123456789-0123456789", timeout=10,
                                  max_requests=2, linger=30)  # fmt: skip
    try:
        got = await outcomes(port, [call(0), call(1)])
    finally:
        await port.close()
    assert set(got.values()) == {"HTTP 401 from the enforcement peer"}


async def test_the_development_hes_takes_the_bulk_form_and_records_each_request(tmp_path: Path) -> None:
    hes = DevHes(port=broker_module().free_port(), secret=SECRET, folder=tmp_path / "hes")
    hes.start()
    try:
        url = f"http://127.0.0.1:{hes.server_address[1]}/enforce"
        port = BulkWebhookEnforcement(url=url, key=SECRET.encode(), timeout=10, max_requests=3, linger=30)
        try:
            calls = [call(0), call(1, "reconnect"), call(2)]
            assert await outcomes(port, calls) == {c.request_id: None for c in calls}
        finally:
            await port.close()
    finally:
        hes.stop()
    recorded = [json.loads(line) for line in hes.log_file.read_text().splitlines()]
    assert [(r["request_id"], r["action"]) for r in recorded] == [("req-0", "block"), ("req-1", "reconnect"), ("req-2", "block")]


# --------------------------------------------------------------------------- the service in bulk mode, on the real broker


async def test_the_service_in_bulk_mode_enforces_every_block_and_retries_a_refused_one_alone(settings, bulk_peer: BulkPeer) -> None:
    app = app_for(settings, None, enforcement_url=bulk_peer.url, enforcement_secret=SECRET, enforcement_mode="bulk",
                  enforcement_bulk_linger_ms=20)  # fmt: skip
    async with serving(app) as client, incident_writer(settings) as feed:
        operator = uid("op")
        await onboard(client, settings, operator)
        connections = [await register(client, settings, operator) for _ in range(3)]
        bulk_peer.refuse_once = {connections[1]}
        for connection_id in connections:
            incident = uid("inc")
            await feed.append(incident, anomaly(incident, connection_id, operator))

        async def all_enforced() -> bool | None:
            states = [[r["state"] for r in (await status_of(client, settings, c))["enforcement_requests"]] for c in connections]
            return all(s == ["enforced"] for s in states) or None

        await eventually(all_enforced, what="every block enforced through the bulk form")
        second = await stream_types(settings, connections[1])
        assert second.count("BlockEnforcementFailed") == 1 and second[-1] == "BlockEnforced"
        for connection_id in (connections[0], connections[2]):
            types = await stream_types(settings, connection_id)
            assert types.count("BlockEnforced") == 1 and "BlockEnforcementFailed" not in types
    sent = [r["connection_id"] for b in bulk_peer.bodies for r in b["requests"]]
    assert sorted(sent) == sorted([connections[0], connections[1], connections[1], connections[2]])  # the refused one again, alone
