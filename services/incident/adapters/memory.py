"""Hand-written in-memory fakes of the incident service's ports, for handler tests and tools."""

from __future__ import annotations

from services.incident.application.ports import ConnectionDirectory
from services.incident.domain.anomalies import ConnectionRef


class InMemoryConnectionDirectory(ConnectionDirectory):
    """Connections and blocks as a test declares them (the live one is a projection of the connection events)."""

    def __init__(self) -> None:
        self._connections: dict[str, ConnectionRef] = {}
        self._blocked: dict[str, dict[str, str]] = {}

    def register(self, connection_id: str, operator_id: str, *, kind: str = "special_meter") -> None:
        """As if the connection service had announced ConnectionRegistered."""
        self._connections[connection_id] = ConnectionRef(operator_id, kind)

    def block(self, connection_id: str, *, incident_id: str) -> None:
        """As if the connection service had blocked the (registered) connection for the incident."""
        self._blocked.setdefault(incident_id, {})[connection_id] = self._connections[connection_id].operator_id

    def connection(self, connection_id: str) -> ConnectionRef | None:
        """The registered connection, or None."""
        return self._connections.get(connection_id)

    def blocked_for(self, incident_id: str) -> dict[str, str]:
        """Connections blocked for the incident: connection id → operator id."""
        return dict(self._blocked.get(incident_id, {}))
