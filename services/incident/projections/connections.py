"""The connection directory: what the connection service announced of its connections, as documents.

A connection → its operator and kind (``CONNECTIONS``); each connection blocked for an incident is a
document of its own (``BLOCKS``, tagged by incident and operator: a fleet-wide block adds one small
row per connection, never rewrites a growing list), and ``BLOCKED_OPERATORS`` keeps, per incident,
the operators whose connections it blocked (what the incident's tags need).
"""

from __future__ import annotations

from typing import Any

from shared.documents import Documents
from shared.envelope import Envelope
from shared.events.connection import ConnectionBlocked, ConnectionRegistered

CONNECTIONS, BLOCKS, BLOCKED_OPERATORS = "connections", "blocks", "blocked-operators"


def fold(docs: Documents, envelope: Envelope) -> str | None:
    """Apply one connection event; returns the incident whose blocked operators changed (None: none did)."""
    event = envelope.event
    if isinstance(event, ConnectionRegistered):
        docs.put(CONNECTIONS, event.connection_id, {"operator_id": event.operator_id, "kind": event.kind})
    elif isinstance(event, ConnectionBlocked):
        block = {"incident_id": event.incident_id, "connection_id": event.connection_id, "operator_id": event.operator_id}
        tags = {"incident": event.incident_id, "operator": event.operator_id}
        docs.put(BLOCKS, block_key(event.incident_id, event.connection_id), block, sort=event.connection_id, tags=tags)
        operators = blocked_operators(docs, event.incident_id)
        if event.operator_id not in operators:
            docs.put(BLOCKED_OPERATORS, event.incident_id, {"operators": sorted({*operators, event.operator_id})})
            return event.incident_id
    return None


def block_key(incident_id: str, connection_id: str) -> str:
    """The key of one connection's block for one incident."""
    return f"{incident_id}/{connection_id}"


def blocked_operators(docs: Documents, incident_id: str) -> list[str]:
    """Operators whose connections were blocked for the incident."""
    found = docs.get(BLOCKED_OPERATORS, incident_id)
    return list(found["operators"]) if found else []


def blocks(
    docs: Documents, incident_id: str, *, operator_id: str | None = None, offset: int = 0, limit: int = 200
) -> tuple[list[dict[str, Any]], int]:
    """A page of the connections blocked for an incident (of one operator, when given) by connection id, and how many."""
    where = {"incident": incident_id, "operator": operator_id}
    return docs.query(BLOCKS, where=where, offset=offset, limit=limit, newest_first=False)
