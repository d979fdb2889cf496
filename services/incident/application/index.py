"""What the anomaly and deadline decisions look up, kept from the store's own events by a Follower."""

from __future__ import annotations

from types import MappingProxyType

from shared.envelope import Envelope
from shared.events.incident import AnomalyAttached, AnomalyDetected, IncidentCleared, IncidentOpened
from shared.eventstore import EventStore
from shared.eventstore.follow import Follower
from services.incident.domain.anomalies import AnomalyIndex


class IncidentIndex:
    """Signal → incident, connection → its open incident, and the open incidents.

    Folded from every event the store holds, staged ones included; after a failed commit the store
    re-reads its topics and the index starts over, so it never keeps what did not land. Only the
    fold changes it: a decision that wants to see its own earlier choices keeps a local overlay.
    """

    def __init__(self, store: EventStore) -> None:
        self._reset()
        self._follower = Follower(store, fold=self._fold, reset=self._reset)

    def anomalies(self) -> AnomalyIndex:
        """Signals and open incidents per connection, up to the last staged event (read-only)."""
        self._follower.catch_up()
        return AnomalyIndex(MappingProxyType(self._signals), MappingProxyType(self._open_by_connection))

    def open_ids(self) -> list[str]:
        """Incidents not cleared yet, up to the last staged event."""
        self._follower.catch_up()
        return sorted(self._open)

    def _reset(self) -> None:
        self._signals: dict[str, str] = {}
        self._open_by_connection: dict[str, str] = {}
        self._open: dict[str, str | None] = {}  # open incident → the connection it is about, if any

    def _fold(self, envelope: Envelope) -> None:
        event, incident_id = envelope.event, envelope.subject
        if isinstance(event, IncidentOpened):
            self._open[incident_id] = event.connection_id
            if event.connection_id:
                self._open_by_connection[event.connection_id] = incident_id
        elif isinstance(event, (AnomalyDetected, AnomalyAttached)):
            self._signals[event.signal_id] = incident_id
        elif isinstance(event, IncidentCleared):
            connection_id = self._open.pop(incident_id, None)
            if connection_id and self._open_by_connection.get(connection_id) == incident_id:
                del self._open_by_connection[connection_id]
