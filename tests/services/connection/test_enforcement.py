"""Enforcement against a real HTTP peer: retries, escalation, restart without repeats, no peer."""

from __future__ import annotations

import logging

from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from tests.factories import eventually, serving, uid
from tests.services.connection.helpers import (
    acknowledged,
    anomaly,
    answers,
    app_for,
    incident_writer,
    onboard,
    register,
    requests_to,
    status_of,
    stream_types,
)


async def _blocked(client, settings, feed, operator: str) -> str:
    connection_id, incident = await register(client, settings, operator), uid("inc")
    await feed.append(incident, anomaly(incident, connection_id, operator))
    return connection_id


async def _request(client, settings, connection_id: str, state: str) -> dict | None:
    body = await status_of(client, settings, connection_id)
    requests = [r for r in body["enforcement_requests"] if r["state"] == state]
    return requests[0] if requests else None


def _counted(name: str, **labels: str) -> float:
    """A counter of the process's ``/metrics`` (0 before its first increment)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def _router_lag(client) -> dict[str, float] | None:
    """The faust router's lag on the incident topic, by partition, as ``/metrics`` shows it (None while absent)."""
    text = (await client.get("/metrics")).text
    lag = {
        s.labels["partition"]: s.value
        for family in text_string_to_metric_families(text) if family.name == "smguard_consumer_lag"
        for s in family.samples if s.labels["group"] == "smguard-connection" and s.labels["topic"] == "smguard.incident.events"
    }  # fmt: skip
    return lag or None


async def test_a_failing_peer_is_retried_until_it_acknowledges(settings, peer):
    answers(peer).fail_first = 2
    outcomes = ("failed", "enforced")
    before = [_counted("smguard_enforcement_requests_total", action="block", outcome=o) for o in outcomes]
    decided = _counted("smguard_block_decisions_total", mode="auto", reason="unauthorized_access")
    app = app_for(settings, peer)
    async with serving(app) as client, incident_writer(settings) as feed:
        operator = uid("op")
        await onboard(client, settings, operator)
        connection_id = await _blocked(client, settings, feed, operator)
        request = await eventually(lambda: _request(client, settings, connection_id, "enforced"), what="enforced")
        assert request["attempts"] == 2 and request["last_error"] == "HTTP 503 from the enforcement peer"
        assert [r["ok"] for r in requests_to(peer) if r["request_id"] == request["request_id"]] == [False, False, True]
        types = await stream_types(settings, connection_id)
        assert types.count("BlockEnforcementFailed") == 2 and types[-1] == "BlockEnforced"
        lag = await eventually(lambda: _router_lag(client), what="the router's lag on /metrics", interval=0.25)
        # every partition, caught up: at most the commit marker of the last transaction on it is not a record
        assert set(lag) == {str(k) for k in range(settings.topic_partitions)} and set(lag.values()) <= {0, 1}
    after = [_counted("smguard_enforcement_requests_total", action="block", outcome=o) for o in outcomes]
    assert [a - b for a, b in zip(after, before)] == [2, 1]  # as /metrics shows them
    assert _counted("smguard_block_decisions_total", mode="auto", reason="unauthorized_access") - decided == 1


async def test_a_block_not_acknowledged_in_time_escalates_once_and_is_still_retried(settings, peer):
    answers(peer).always_fail = True
    app = app_for(settings, peer, enforcement_escalate_seconds=0.3)
    escalated = _counted("smguard_enforcement_escalations_total", action="block")
    async with serving(app) as client, incident_writer(settings) as feed:
        operator = uid("op")
        await onboard(client, settings, operator)
        connection_id = await _blocked(client, settings, feed, operator)
        await eventually(lambda: _request(client, settings, connection_id, "escalated"), what="escalated")
        answers(peer).always_fail = False
        await eventually(lambda: _request(client, settings, connection_id, "enforced"), what="enforced later")
        assert (await stream_types(settings, connection_id)).count("EnforcementEscalated") == 1
    assert _counted("smguard_enforcement_escalations_total", action="block") - escalated == 1


async def test_after_a_restart_pending_requests_resume_and_nothing_is_enforced_twice(settings, peer):
    operator = uid("op")
    async with serving(app_for(settings, peer)) as client, incident_writer(settings) as feed:
        await onboard(client, settings, operator)
        done = await _blocked(client, settings, feed, operator)
        done_request = await eventually(lambda: _request(client, settings, done, "enforced"), what="first enforced")
        answers(peer).always_fail = True
        pending = await _blocked(client, settings, feed, operator)
        pending_request = await eventually(
            lambda: _request(client, settings, pending, "pending"), what="second pending"
        )
    app = app_for(settings, peer)
    async with serving(app) as client:
        # Only now: an attempt the stopped service had in flight may still reach the peer's thread late,
        # and must fail there like the others (its outcome was never known to the service).
        answers(peer).always_fail = False
        await eventually(lambda: _request(client, settings, pending, "enforced"), what="resumed after restart")
        await app.state.enforcement.sweep()
        assert acknowledged(peer, done_request["request_id"]) == 1
        assert acknowledged(peer, pending_request["request_id"]) == 1
        assert (await stream_types(settings, done)).count("BlockEnforced") == 1
        assert sum(1 for r in requests_to(peer) if r["request_id"] == done_request["request_id"]) == 1


async def test_without_a_peer_requests_stay_pending_and_it_is_said_in_the_logs(settings, caplog):
    caplog.set_level(logging.WARNING)
    app = app_for(settings, None, enforcement_escalate_seconds=0.2)
    async with serving(app) as client, incident_writer(settings) as feed:
        operator = uid("op")
        await onboard(client, settings, operator)
        connection_id = await _blocked(client, settings, feed, operator)
        await eventually(lambda: _request(client, settings, connection_id, "escalated"), what="escalated")
        assert "BlockEnforced" not in await stream_types(settings, connection_id)
        assert any("not configured" in r.getMessage() or "NOT carried out" in r.getMessage() for r in caplog.records)
