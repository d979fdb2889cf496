"""The metrics of a Kafka service, in one place: what each one counts, and its labels.

Two kinds. **Counted where the work happens** (a counter increment or a histogram observation on the
hot path, no lock held across an ``await``): events appended, append and commit latency, dead letters,
block decisions, enforcement requests. **Read at scrape time** (``Reading``): each service's runtime
computes them when ``GET /metrics`` asks (consumer lag from the consumers' positions against the
topics' end offsets, parked events, readiness) and from its read models (cheap counting queries).

Every label value comes from a fixed set — event types of the catalog, topic bases, partition
numbers, consumer names, modes, outcomes, states, severities — never an id, a name or free text,
so the number of series stays bounded whatever users send.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

FAST = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Buckets for what takes milliseconds when well (an append, a transaction, a webhook on a LAN)."""

EVENTS_APPENDED = Counter("smguard_events_appended_total", "Events appended to the event topics, by event type", ["type"])
APPEND_SECONDS = Histogram(
    "smguard_eventstore_append_seconds", "From staging an append to the commit of the transaction that holds it",
    buckets=FAST,
)  # fmt: skip
COMMIT_SECONDS = Histogram(
    "smguard_eventstore_commit_seconds", "One transaction of the event store (a batch of appends), begin to commit",
    buckets=FAST,
)  # fmt: skip
DEAD_LETTERED = Counter(
    "smguard_dead_lettered_total", "Records sent to the dead-letter topic, by the topic they were read from", ["topic"]
)
BLOCK_DECISIONS = Counter(
    "smguard_block_decisions_total", "Connections the block policy decided on, by its mode and the block reason",
    ["mode", "reason"],
)  # fmt: skip
ENFORCEMENT_REQUESTS = Counter(
    "smguard_enforcement_requests_total", "Enforcement requests sent to the peer, by action and outcome",
    ["action", "outcome"],
)  # fmt: skip
ENFORCEMENT_SECONDS = Histogram(
    "smguard_enforcement_request_seconds", "How long the enforcement peer took to answer a request", ["action"],
    buckets=FAST,
)  # fmt: skip
ENFORCEMENT_ESCALATIONS = Counter(
    "smguard_enforcement_escalations_total", "Enforcement requests escalated (not acknowledged in time)", ["action"]
)
AUDIT_VERIFICATION_OK = Gauge(
    "smguard_audit_verification_ok", "1 when the last verification of the audit log found it whole, 0 when it did not"
)
AUDIT_VERIFICATION_TIME = Gauge(
    "smguard_audit_verification_timestamp_seconds", "When the audit log was last verified (Unix time)"
)

ENFORCEMENT_OUTCOMES = ("enforced", "failed", "not_configured")
POLICY_MODES = ("auto", "recommend", "off")
NOTIFICATION_STATES = ("queued", "delivered", "failed", "acknowledged", "escalated")
COMPLIANCE_ITEMS = ("risk_assessment", "training:education", "training:incident_drill", "status_request")


@dataclass(frozen=True)
class Reading:
    """A gauge read at scrape time: its name, what it says, its labels."""

    name: str
    help: str
    labels: tuple[str, ...] = ()


Values = Mapping[tuple[str, ...], float]
"""A reading's values: label values (in the order of ``Reading.labels``) → value."""

CONSUMER_LAG = Reading(
    "smguard_consumer_lag", "Records in a partition that a consumer has not processed (committed) yet",
    ("group", "topic", "partition"),
)  # fmt: skip
PARKED = Reading("smguard_parked_events", "Events parked because they could not be applied yet, by consumer", ("consumer",))
READY = Reading("smguard_ready", "1 when the instance is ready (what /readyz says), 0 when not")
NOTIFICATIONS = Reading("smguard_notifications", "Notifications by state", ("state",))
OPEN_INCIDENTS = Reading("smguard_open_incidents", "Incidents not cleared, by severity", ("severity",))
OVERDUE_REPORTS = Reading("smguard_overdue_reports", "Open incidents whose report of a part is overdue and not filed", ("part",))
OVERDUE_COMPLIANCE = Reading(
    "smguard_overdue_compliance_items", "Operators' yearly duties and status requests past their due date, by kind",
    ("item",),
)  # fmt: skip
READINGS = (CONSUMER_LAG, PARKED, READY, NOTIFICATIONS, OPEN_INCIDENTS, OVERDUE_REPORTS, OVERDUE_COMPLIANCE)


def family(reading: Reading, values: Values) -> GaugeMetricFamily:
    """A reading as a Prometheus gauge family."""
    found = GaugeMetricFamily(reading.name, reading.help, labels=list(reading.labels))
    for labels, value in sorted(values.items()):
        found.add_metric(list(labels), value)
    return found


class _Families:
    """A collector of families computed beforehand (for one scrape)."""

    def __init__(self, families: Iterable[GaugeMetricFamily]) -> None:
        self._families = list(families)

    def collect(self) -> Iterable[GaugeMetricFamily]:
        return self._families


def exposition(readings: Mapping[Reading, Values]) -> bytes:
    """The text of ``/metrics``: the process's counters and histograms, then this scrape's readings."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(family(r, v) for r, v in readings.items()))  # type: ignore[arg-type]
    return generate_latest(REGISTRY) + generate_latest(registry)


def tally(rows: Iterable[tuple[str, int]], known: Iterable[str]) -> dict[tuple[str], float]:
    """Counts by one label, every known value present (0 when none), and nothing outside ``known``."""
    counts = {(value,): 0.0 for value in known}
    for value, count in rows:
        if (value,) in counts:
            counts[(value,)] += count
    return counts
