"""``/metrics`` of a running service after real work on the broker: appends counted by type, report deadlines
and open incidents read from the read model, consumer lag per group and partition, dead letters — and every
label value of every smguard metric from a fixed set (no ids, no names)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import get_args

from aiokafka import TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from shared.events import CATALOG
from shared.events.values import BlockReason, Severity
from shared.kafka import clients
from shared.metrics import COMPLIANCE_ITEMS, ENFORCEMENT_OUTCOMES, NOTIFICATION_STATES, POLICY_MODES
from shared.services import PROCESSES
from shared.topics import ALL_TOPICS, INCIDENT_EVENTS, SENSOR_ANOMALIES
from services.incident.config import IncidentSettings
from tests.factories import DETECTED, FakeClock, bearer, eventually
from tests.services.incident.helpers import incident_body, running

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
CONSUMERS = {f"{s}.{name}" for s in PROCESSES for name in ("readmodel", "views", "knowledge", "log", "feed")}
GROUPS = {f"smguard.{s}" for s in PROCESSES} | {f"smguard-{s}" for s in PROCESSES} | CONSUMERS


async def scrape(client) -> Samples:
    """Every smguard sample of ``GET /metrics``: (name, sorted labels) → value."""
    answer = await client.get("/metrics")
    assert answer.status_code == 200
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(answer.text)
        for s in family.samples
        if s.name.startswith("smguard_")
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value (0 when the series is absent: a counter not moved yet)."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def allowed(settings, routes: set[str]) -> dict[str, set[str] | re.Pattern[str]]:
    """Each label's fixed set of values."""
    return {
        "service": set(PROCESSES), "method": {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"},
        "route": routes | {"unmatched"}, "status": re.compile(r"[1-5]\d\d"), "le": re.compile(r"[0-9.e+-]+|\+Inf"),
        "type": set(CATALOG), "topic": set(ALL_TOPICS), "partition": {str(k) for k in range(settings.topic_partitions)},
        "group": GROUPS, "consumer": CONSUMERS, "mode": set(POLICY_MODES), "reason": set(get_args(BlockReason)),
        "action": {"block", "reconnect"}, "outcome": set(ENFORCEMENT_OUTCOMES), "state": set(NOTIFICATION_STATES),
        "severity": set(get_args(Severity)), "part": {"initial", "cause"}, "item": set(COMPLIANCE_ITEMS),
    }  # fmt: skip


def unbounded(samples: Samples, rules: dict[str, set[str] | re.Pattern[str]], *, service: str) -> list[str]:
    """The label values outside their fixed set (a label no rule names is one too)."""
    bad = []
    for name, labels in samples:
        found = dict(labels)
        if found.get("service", service) != service:
            continue  # another service's app in this test process: its routes are its own
        for label, got in labels:
            rule = rules.get(label)
            ok = rule is not None and (rule.fullmatch(got) if isinstance(rule, re.Pattern) else got in rule)
            if not ok:
                bad.append(f"{name}{{{label}={got!r}}}")
    return bad


async def test_metrics_follow_the_work_and_every_label_value_is_bounded(settings, operator_id):
    clock = FakeClock(DETECTED + timedelta(hours=1))
    options = IncidentSettings(deadline_check_seconds=0.05, initial_report_deadline_hours=2, cause_report_deadline_hours=48)
    soc = bearer(settings, "utility_soc")
    async with running(settings, options=options, clock=clock) as client:
        before = await scrape(client)
        assert value(before, "smguard_ready") == 1
        body = incident_body(operator_id=operator_id) | {"severity": "high"}
        await eventually(lambda: _created(client, body, soc), what="the incident opened")  # a 503 (rebalancing) is retried

        after = await until(client, "smguard_open_incidents", severity="high")
        moved = {name: value(after, name, **labels) - value(before, name, **labels) for name, labels in [
            ("smguard_events_appended_total", {"type": "IncidentOpened"}), ("smguard_eventstore_append_seconds_count", {}),
            ("smguard_eventstore_commit_seconds_count", {}),
        ]}  # fmt: skip
        assert moved["smguard_events_appended_total"] == 1 and min(moved.values()) >= 1, moved
        assert value(after, "smguard_open_incidents", severity="high") == 1
        assert value(after, "smguard_open_incidents", severity="low") == 0
        assert value(after, "smguard_overdue_reports", part="initial") == 0
        clock.advance(hours=2)  # the initial report's deadline passes
        overdue = await until(client, "smguard_overdue_reports", part="initial")
        assert value(overdue, "smguard_overdue_reports", part="initial") == 1

        # Lag: the inbox partition held back (as the store does while taking it over), a record written to it
        # waits — one record of lag for the group on that partition — until the partition is read again.
        ownership, k = client.svc.store.ownership, 0
        tp = TopicPartition(settings.topic(SENSOR_ANOMALIES), k)
        ownership.unread(k, await ownership.consumer.position(tp))
        await _send(settings, tp, b"{not json")
        lag = {"group": "smguard.incident", "topic": SENSOR_ANOMALIES, "partition": str(k)}
        held = await until(client, "smguard_consumer_lag", **lag)
        assert value(held, "smguard_consumer_lag", **lag) == 1
        ownership.serve(k)
        done = await until(client, "smguard_consumer_lag", expect=0, **lag)
        dead = [value(m, "smguard_dead_lettered_total", topic=SENSOR_ANOMALIES) for m in (before, done)]
        assert dead[1] - dead[0] == 1
        assert value(done, "smguard_consumer_lag", group="incident.readmodel", topic=INCIDENT_EVENTS, partition="0") == 0

        routes = set(client.app.openapi()["paths"])  # the route templates of the code
        assert unbounded(done, allowed(settings, routes), service="incident") == []


async def until(client, name: str, *, expect: float | None = None, **labels: str) -> Samples:
    """Scrape until the sample is present and positive (or equals ``expect``); that scrape."""

    async def check() -> Samples | None:
        samples = await scrape(client)
        key = (name, tuple(sorted(labels.items())))
        if key not in samples:
            return None
        return samples if (samples[key] > 0 if expect is None else samples[key] == expect) else None

    return await eventually(check, what=f"{name}{labels} on /metrics", interval=0.25)


async def _send(settings, tp: TopicPartition, value: bytes) -> None:
    """One record on a partition, as a sensor writes it."""
    producer = clients.producer(settings, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(tp.topic, value, key=b"sensor-1", partition=tp.partition)
    finally:
        await producer.stop()


async def _created(client, body, headers) -> bool:
    """POST /incidents: True when opened; False on a 503, which a client retries (as its Retry-After says)."""
    answer = await client.post("/incidents", json=body, headers=headers | {"Idempotency-Key": "metrics-test"})
    assert answer.status_code in (201, 503), answer.text
    return answer.status_code == 201
