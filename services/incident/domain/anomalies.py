"""Deciding a batch of anomaly signals in order: dedupe by signal id, attach to the connection's open incident."""

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
    """What was known before the batch, for its signals only: the incident each earlier signal went to,
    and the open incident of each of its connections."""

    signals: Mapping[str, str] = field(default_factory=dict)
    open_by_connection: Mapping[str, str] = field(default_factory=dict)


@dataclass
class AnomalyBatch:
    """One batch being decided, signal by signal: what it decided so far, over what was known before it.

    Later signals see earlier ones of the batch through this local overlay; ``known`` is never
    changed, so a batch that is refused or fails to commit leaves no trace in it. ``new_id`` gives a
    new incident's id for a connection (on the connection's partition).
    """

    known: AnomalyIndex
    connections: Callable[[str], ConnectionRef | None]
    load: Callable[[str], Incident]
    new_id: Callable[[str], str]
    signals: dict[str, str] = field(default_factory=dict)
    opened: dict[str, str] = field(default_factory=dict)
    touched: dict[str, Incident] = field(default_factory=dict)

    def decide(self, anomaly: Anomaly) -> tuple[Outcome, Incident | None]:
        """What becomes of one signal, and the incident that recorded an event for it (None: nothing happens)."""
        earlier = self.signals.get(anomaly.signal_id) or self.known.signals.get(anomaly.signal_id)
        if earlier is not None:
            return Outcome(anomaly.signal_id, earlier, attached=True, duplicate=True), None
        connection = self.connections(anomaly.connection_id)
        if connection is None:
            return Outcome(anomaly.signal_id, None, refused=f"unknown connection {anomaly.connection_id}"), None
        open_id = self.opened.get(anomaly.connection_id) or self.known.open_by_connection.get(anomaly.connection_id)
        attached = open_id is not None
        if open_id is not None:
            incident = self.touched.get(open_id) or self.load(open_id)
            incident.attach(anomaly, operator_id=connection.operator_id)
        else:
            open_id = self.new_id(anomaly.connection_id)
            incident = Incident.open_by_anomaly(open_id, anomaly, operator_id=connection.operator_id, asset_kind=connection.kind)
            self.opened[anomaly.connection_id] = open_id
        self.touched[open_id] = incident
        self.signals[anomaly.signal_id] = open_id
        return Outcome(anomaly.signal_id, open_id, attached=attached), incident
