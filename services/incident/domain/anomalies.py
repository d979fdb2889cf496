"""Deciding a batch of anomaly signals: dedupe by signal id, attach to the connection's open incident."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

from services.incident.domain.commands import Anomaly
from services.incident.domain.model import Incident


@dataclass(frozen=True)
class ConnectionRef:
    """What the incident service knows of a connection: its operator and its kind."""

    operator_id: str
    kind: str


@dataclass(frozen=True)
class Outcome:
    """What became of one signal."""

    signal_id: str
    incident_id: str | None
    attached: bool = False
    duplicate: bool = False
    refused: str | None = None


@dataclass(frozen=True)
class AnomalyIndex:
    """Which incident each signal went to, and which incident is open per connection."""

    signals: Mapping[str, str] = field(default_factory=dict)
    open_by_connection: Mapping[str, str] = field(default_factory=dict)


@dataclass
class _Batch:
    """One batch being decided: what it decided so far, over what was known before it."""

    known: AnomalyIndex
    connections: Callable[[str], ConnectionRef | None]
    load: Callable[[str], Incident]
    new_id: Callable[[], str]
    signals: dict[str, str] = field(default_factory=dict)
    opened: dict[str, str] = field(default_factory=dict)
    touched: dict[str, Incident] = field(default_factory=dict)

    def incident_of_signal(self, signal_id: str) -> str | None:
        """The incident a signal went to, in this batch or before it."""
        return self.signals.get(signal_id) or self.known.signals.get(signal_id)

    def open_on(self, connection_id: str) -> str | None:
        """The connection's open incident, opened in this batch or before it."""
        return self.opened.get(connection_id) or self.known.open_by_connection.get(connection_id)


def decide_batch(
    anomalies: list[Anomaly],
    *,
    known: AnomalyIndex,
    connections: Callable[[str], ConnectionRef | None],
    load: Callable[[str], Incident],
    new_id: Callable[[], str],
) -> tuple[list[Outcome], dict[str, Incident]]:
    """Decide every signal in order; returns the outcomes and the incidents with new events.

    Later signals of the batch see earlier ones through a local overlay; ``known`` is never changed,
    so a batch that is refused or fails to commit leaves no trace in it.
    """
    batch = _Batch(known, connections, load, new_id)
    return [_decide(anomaly, batch) for anomaly in anomalies], batch.touched


def _decide(anomaly: Anomaly, batch: _Batch) -> Outcome:
    earlier = batch.incident_of_signal(anomaly.signal_id)
    if earlier is not None:
        return Outcome(anomaly.signal_id, earlier, attached=True, duplicate=True)
    connection = batch.connections(anomaly.connection_id)
    if connection is None:
        return Outcome(anomaly.signal_id, None, refused=f"unknown connection {anomaly.connection_id}")
    open_id = batch.open_on(anomaly.connection_id)
    attached = open_id is not None
    if open_id is not None:
        incident = batch.touched.get(open_id) or batch.load(open_id)
        incident.attach(anomaly, operator_id=connection.operator_id)
    else:
        open_id = batch.new_id()
        incident = Incident.open_by_anomaly(open_id, anomaly, operator_id=connection.operator_id, asset_kind=connection.kind)
        batch.opened[anomaly.connection_id] = open_id
    batch.touched[open_id] = incident
    batch.signals[anomaly.signal_id] = open_id
    return Outcome(anomaly.signal_id, open_id, attached=attached)
