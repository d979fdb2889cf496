"""The history checker: what the test sent and what came back, held against the promises of the system.

``check(history)`` is pure: it takes plain data — the commands the services acknowledged (HTTP 2xx
with ids), the anomalies the test produced, every event read back from the topics (read_committed),
what the peers received (enforcement requests, e-mails), and the outcome of a rebuild (read-model
differences, audit roots) — and returns, per invariant, the problems found (none: the invariant held).
``read_events`` and ``read_deliveries`` gather that data from a running system.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable

ACCOUNTED = "every acknowledged command and produced anomaly accounted for"
ONCE = "no event applied twice (event ids unique, one record per anomaly)"
ORDER = "versions per aggregate contiguous 1..n, in order, on one partition"
READ_MODELS = "read models equal to a rebuild from the topics"
AUDIT = "audit root equal to that of a clean rebuild"
PEERS = "repeats seen by peers carry the same id (one id, one logical request)"
BLOCKED_ONCE = "every attacked meter blocked once, its block request received"
MAILED = "every e-mail recorded as delivered reached the mail peer under its notification id"
INVARIANTS = (ACCOUNTED, ONCE, ORDER, READ_MODELS, AUDIT, PEERS, BLOCKED_ONCE, MAILED)
SHOWN = 10


@dataclass(frozen=True)
class Event:
    """One event record read back: where it sits, its envelope attributes, its data."""

    topic: str
    partition: int
    offset: int
    id: str
    subject: str
    sequence: int
    type: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Delivery:
    """What a peer received: the id it saw, and the logical request it stands for."""

    peer: str  # "enforcement" or "mail"
    id: str
    logical: str


@dataclass
class History:
    """Everything the test sent and everything it read back."""

    acknowledged: dict[str, str] = field(default_factory=dict)  # id answered with 2xx → what it names
    anomalies: list[str] = field(default_factory=list)  # signal ids produced (each once)
    attacked: set[str] = field(default_factory=set)  # connections whose anomalies must block them
    events: list[Event] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    replay_differences: dict[str, list[str]] | None = None  # service → differences; None: not compared
    audit_root: str | None = None
    rebuilt_audit_root: str | None = None


@dataclass
class Verdict:
    """Per invariant, the problems found; ``held`` when there are none."""

    problems: dict[str, list[str]]
    figures: dict[str, int]

    @property
    def held(self) -> bool:
        return not any(self.problems.values())

    def broken(self) -> dict[str, list[str]]:
        """The invariants that did not hold, with their first problems."""
        return {name: found[:SHOWN] for name, found in self.problems.items() if found}

    def outcome(self, invariant: str) -> str:
        return "broken" if self.problems.get(invariant) else "held"

    def figures_for(self, invariant: str) -> dict[str, object]:
        """The figures of a result row, with the first problems when the invariant broke."""
        found = self.problems.get(invariant) or []
        return {**self.figures, **({"problems": found[:3]} if found else {})}


def check(history: History) -> Verdict:
    """Hold the history against every invariant (pure: no I/O)."""
    problems: dict[str, list[str]] = {name: [] for name in INVARIANTS}
    events = sorted(history.events, key=lambda e: (e.topic, e.partition, e.offset))
    subjects = {e.subject for e in events}
    signals: dict[str, int] = defaultdict(int)
    for e in events:
        if e.type in ("AnomalyDetected", "AnomalyAttached") and "signal_id" in e.data:
            signals[e.data["signal_id"]] += 1

    for ident, what in history.acknowledged.items():
        if ident not in subjects:
            problems[ACCOUNTED].append(f"acknowledged {what} {ident} has no event")
    for signal in history.anomalies:
        if signals.get(signal, 0) == 0:
            problems[ACCOUNTED].append(f"anomaly {signal} recorded on no incident")

    ids: dict[str, int] = defaultdict(int)
    for e in events:
        ids[e.id] += 1
    problems[ONCE] += [f"event id {i} appears {n} times" for i, n in ids.items() if n > 1]
    problems[ONCE] += [f"anomaly {s} recorded {n} times" for s, n in signals.items() if n > 1]

    problems[ORDER] += _order(events)

    if history.replay_differences is None:
        problems[READ_MODELS].append("the read models were not compared with a rebuild")
    else:
        for service, found in history.replay_differences.items():
            problems[READ_MODELS] += [f"{service}: {line}" for line in found]

    if history.audit_root is None or history.rebuilt_audit_root is None:
        problems[AUDIT].append("the audit root was not compared with a clean rebuild")
    elif history.audit_root != history.rebuilt_audit_root:
        problems[AUDIT].append(f"live root {history.audit_root} != rebuilt root {history.rebuilt_audit_root}")

    problems[PEERS] += _peers(history.deliveries)
    problems[BLOCKED_ONCE] += _blocked_once(history.attacked, events, history.deliveries)
    problems[MAILED] += _mailed(events, history.deliveries)

    figures = {
        "acknowledged": len(history.acknowledged),
        "anomalies": len(history.anomalies),
        "events": len(events),
        "aggregates": len(subjects),
        "attacked": len(history.attacked),
        "enforcement_deliveries": sum(1 for d in history.deliveries if d.peer == "enforcement"),
        "mails": sum(1 for d in history.deliveries if d.peer == "mail"),
        "peer_repeats": len(history.deliveries) - len({(d.peer, d.id) for d in history.deliveries}),
    }
    return Verdict(problems, figures)


def _order(events: list[Event]) -> list[str]:
    """Per aggregate (topic, subject): one partition, sequences 1..n in offset order."""
    found: list[str] = []
    by_aggregate: dict[tuple[str, str], list[Event]] = defaultdict(list)
    for e in events:  # already in (topic, partition, offset) order
        by_aggregate[(e.topic, e.subject)].append(e)
    for (topic, subject), seen in by_aggregate.items():
        partitions = {e.partition for e in seen}
        if len(partitions) > 1:
            found.append(f"{topic} {subject}: on partitions {sorted(partitions)}")
            continue
        sequences = [e.sequence for e in seen]
        if sequences != list(range(1, len(sequences) + 1)):
            found.append(f"{topic} {subject}: versions {_short(sequences)} (expected 1..{len(sequences)})")
    return found


def _peers(deliveries: Iterable[Delivery]) -> list[str]:
    """A peer's id names one logical request, however often it is repeated."""
    meaning: dict[tuple[str, str], set[str]] = defaultdict(set)
    for d in deliveries:
        meaning[(d.peer, d.id)].add(d.logical)
    return [f"{peer} id {ident} stands for {sorted(logical)}" for (peer, ident), logical in meaning.items()
            if len(logical) > 1]


def _blocked_once(attacked: set[str], events: list[Event], deliveries: list[Delivery]) -> list[str]:
    """One ConnectionBlocked per attacked meter, and the peer received its request (by its id)."""
    found: list[str] = []
    blocks: dict[str, list[Event]] = defaultdict(list)
    for e in events:
        if e.type == "ConnectionBlocked":
            blocks[e.subject].append(e)
    received: dict[str, set[str]] = defaultdict(set)  # connection → block request ids the peer saw
    for d in deliveries:
        if d.peer == "enforcement" and d.logical.endswith(":block"):
            received[d.logical.rsplit(":", 1)[0]].add(d.id)
    for connection in sorted(attacked):
        decided = blocks.get(connection, [])
        if len(decided) != 1:
            found.append(f"{connection}: blocked {len(decided)} times")
            continue
        request = decided[0].data.get("request_id")
        if request not in received.get(connection, set()):
            found.append(f"{connection}: block request {request} never reached the enforcement peer")
        if len(received.get(connection, set())) > 1:
            found.append(f"{connection}: the peer saw block requests {sorted(received[connection])}")
    return found


def _mailed(events: list[Event], deliveries: list[Delivery]) -> list[str]:
    """Each NotificationDelivered by e-mail has a caught e-mail carrying its notification id."""
    channel_of = {e.data.get("notification_id"): e.data.get("channel") for e in events if e.type == "NotificationQueued"}
    caught = {d.id for d in deliveries if d.peer == "mail"}
    found = []
    for e in events:
        if e.type != "NotificationDelivered":
            continue
        notification = e.data.get("notification_id")
        if (e.data.get("channel") or channel_of.get(notification)) == "email" and notification not in caught:
            found.append(f"notification {notification}: recorded as e-mailed, never reached the mail peer")
    return found


def _short(values: list[int]) -> str:
    return str(values) if len(values) <= 12 else f"{values[:6]}…{values[-6:]}"


# --------------------------------------------------------------------------- gathering (I/O)


def event_of(topic: str, partition: int, offset: int, value: bytes) -> Event | None:
    """An event record's checker view (None for what is not a CloudEvent of ours)."""
    try:
        body = json.loads(value)
    except (TypeError, ValueError):
        return None
    if not isinstance(body, dict) or "sequence" not in body or "subject" not in body:
        return None
    kind = str(body.get("type", "")).rsplit(".", 1)[-1]
    data = body.get("data") if isinstance(body.get("data"), dict) else {}
    return Event(topic, partition, offset, str(body["id"]), str(body["subject"]), int(body["sequence"]), kind, data)


async def read_events(settings: Any, topics: Iterable[str]) -> list[Event]:
    """Every event of the given (prefixed) topics, as a read_committed consumer sees them."""
    from shared.kafka import clients
    from shared.kafka.reader import assign_all, read_to_end

    consumer = clients.consumer(settings, isolation_level="read_committed")
    await consumer.start()
    try:
        partitions = await assign_all(consumer, list(topics))
        await consumer.seek_to_beginning(*partitions)
        found = []
        async for batch in read_to_end(consumer, partitions):
            for record in batch:
                event = event_of(record.topic, record.partition, record.offset, record.value)
                if event is not None:
                    found.append(event)
        return found
    finally:
        await consumer.stop()


def enforcement_deliveries(lines: Iterable[str]) -> list[Delivery]:
    """The enforcement peer's received requests (one JSON object a line) as deliveries."""
    found = []
    for line in lines:
        if line.strip():
            body = json.loads(line)
            found.append(Delivery("enforcement", str(body.get("request_id")),
                                  f"{body.get('connection_id')}:{body.get('action', 'block')}"))
    return found


def mail_deliveries(folder: Any) -> list[Delivery]:
    """The caught e-mails (``*.eml`` in ``folder``) as deliveries: the notification id each carries, and
    what it says to whom (a repeat of one notification says the same thing to the same person)."""
    import email
    import email.policy
    import hashlib

    found = []
    for path in sorted(folder.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        part = message.get_body(preferencelist=("plain", "html"))
        body = part.get_content() if part is not None else ""
        said = hashlib.sha256(f"{message.get('To')}\n{message.get('Subject')}\n{body}".encode()).hexdigest()[:16]
        found.append(Delivery("mail", str(message.get("X-Smguard-Notification-Id", "")), said))
    return found
