"""Deciding a batch of anomaly signals: dedupe by signal id, attach to the connection's open incident."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

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


@dataclass
class AnomalyIndex:
    """Which incident each signal went to, and which incident is open per connection."""

    signals: dict[str, str] = field(default_factory=dict)
    open_by_connection: dict[str, str] = field(default_factory=dict)


def decide_batch(
    anomalies: list[Anomaly],
    *,
    index: AnomalyIndex,
    connections: Callable[[str], ConnectionRef | None],
    load: Callable[[str], Incident],
    new_id: Callable[[], str],
) -> tuple[list[Outcome], dict[str, Incident]]:
    """Decide every signal in order; returns the outcomes and the incidents with new events.

    ``index`` is updated as the batch is decided, so later signals of the batch see earlier ones.
    """
    touched: dict[str, Incident] = {}
    outcomes = [_decide(a, index=index, connections=connections, touched=touched, load=load, new_id=new_id) for a in anomalies]
    return outcomes, touched


def _decide(
    anomaly: Anomaly,
    *,
    index: AnomalyIndex,
    connections: Callable[[str], ConnectionRef | None],
    touched: dict[str, Incident],
    load: Callable[[str], Incident],
    new_id: Callable[[], str],
) -> Outcome:
    earlier = index.signals.get(anomaly.signal_id)
    if earlier is not None:
        return Outcome(anomaly.signal_id, earlier, attached=True, duplicate=True)
    connection = connections(anomaly.connection_id)
    if connection is None:
        return Outcome(anomaly.signal_id, None, refused=f"unknown connection {anomaly.connection_id}")
    open_id = index.open_by_connection.get(anomaly.connection_id)
    if open_id is not None:
        incident = touched.get(open_id) or load(open_id)
        incident.attach(anomaly, operator_id=connection.operator_id)
        attached = True
    else:
        open_id = new_id()
        incident = Incident.open_by_anomaly(open_id, anomaly, operator_id=connection.operator_id, asset_kind=connection.kind)
        index.open_by_connection[anomaly.connection_id] = open_id
        attached = False
    touched[open_id] = incident
    index.signals[anomaly.signal_id] = open_id
    return Outcome(anomaly.signal_id, open_id, attached=attached)
