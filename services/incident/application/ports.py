"""What the incident handlers need from outside: the connections the connection service announced."""

from __future__ import annotations

from typing import Protocol

from services.incident.domain.anomalies import ConnectionRef


class ConnectionDirectory(Protocol):
    """Connections as the connection service announced them (a projection of its events)."""

    def connection(self, connection_id: str) -> ConnectionRef | None:
        """The connection's operator and kind, or None when no such connection was registered."""

    def blocked_for(self, incident_id: str) -> dict[str, str]:
        """Connections blocked for an incident: connection id → operator id."""
