"""The connections the incident service knows of, and which incident blocked which of them."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from shared.envelope import Envelope
from shared.events.connection import ConnectionBlocked, ConnectionRegistered
from shared.kafka.sinks import MemorySink
from services.incident.domain.anomalies import ConnectionRef


class ConnectionDirectoryView(MemorySink):
    """A projection of ``smguard.connection.events``: id → (operator, kind); incident → blocked connections."""

    def __init__(self) -> None:
        super().__init__()
        self._connections: dict[str, ConnectionRef] = {}
        self._blocked: defaultdict[str, dict[str, str]] = defaultdict(dict)

    async def handle(self, envelope: Envelope) -> None:
        """Remember registrations and blocks; other connection events do not concern incidents."""
        event = envelope.event
        if isinstance(event, ConnectionRegistered):
            self._connections[event.connection_id] = ConnectionRef(event.operator_id, event.kind)
        elif isinstance(event, ConnectionBlocked):
            self._blocked[event.incident_id][event.connection_id] = event.operator_id

    def connection(self, connection_id: str) -> ConnectionRef | None:
        """The connection's operator and kind, if it was registered."""
        return self._connections.get(connection_id)

    def blocked_for(self, incident_id: str) -> dict[str, str]:
        """Connections blocked for the incident: connection id → operator id."""
        return dict(self._blocked.get(incident_id, {}))

    def snapshot(self) -> dict[str, Any]:
        """The directory as plain data (a copy): connections, and blocked connections per incident."""
        return {
            "connections": {c: {"operator_id": r.operator_id, "kind": r.kind} for c, r in self._connections.items()},
            "blocked": {i: dict(by) for i, by in self._blocked.items() if by},
        }
