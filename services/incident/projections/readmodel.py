"""The incident service's read model: incident views and the connection directory, durable in one SQLite file.

One sink over ``smguard.incident.events`` and ``smguard.connection.events``: an incident is tagged
with every operator it concerns, those whose connections were blocked for it included, whichever of
the two topics is read first. Each event is applied in one transaction with its resume offset, so a
restart resumes where it stopped. ``snapshot()`` is what ``smguard replay`` compares, live or rebuilt.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from shared.documents import DocumentSink, Documents
from shared.envelope import Envelope
from shared.events.connection import ConnectionRegistered
from shared.events.incident import IncidentEvent
from services.incident.domain.anomalies import ConnectionRef
from services.incident.projections import connections, incidents
from services.incident.projections.incidents import ANOMALIES, INCIDENTS, View

PAGE = 500
READ_YOUR_WRITES_SECONDS = 3.0
DIRECTORY_CACHE = 100_000
"""Connections whose operator and kind the decisions keep at hand (some 30 MB at most): an anomaly storm
looks the same few connections up again and again, and a lookup in SQLite decodes a document each time."""


class IncidentReadModel(DocumentSink):
    """The views the routes read and the directory the decisions look connections up in."""

    def __init__(self, path: Path, *, window_seconds: float = 7 * 86400) -> None:
        super().__init__(path, window_seconds=window_seconds)
        self._refs = lru_cache(maxsize=DIRECTORY_CACHE)(self._lookup)

    def fold(self, docs: Documents, envelope: Envelope) -> None:
        """Apply an incident event to its view, or a connection event to the directory (and retag its incident)."""
        if isinstance(envelope.event, IncidentEvent):
            also = connections.blocked_operators(docs, envelope.subject)
            incidents.fold(docs, envelope, also_concerned=also)
            return
        if isinstance(envelope.event, ConnectionRegistered):
            # Forgotten before the document changes: nothing awaits between here and the commit, so no
            # decision can read the old entry again (nor one that would be rolled back).
            self._refs.cache_clear()
        retagged = connections.fold(docs, envelope)
        if retagged is not None:
            incidents.retag(docs, retagged, also_concerned=connections.blocked_operators(docs, retagged))

    async def start(self) -> None:
        """Nothing to start: the file is open from the beginning (a runtime component, to be closed at the end)."""

    async def stop(self) -> None:
        """Close the database once the subscriber feeding it has stopped."""
        self.close()

    # ------------------------------------------------------------------ the views

    def incident(self, incident_id: str) -> View | None:
        """One incident's view (bounded: its latest anomalies and timeline entries)."""
        return self.docs.get(INCIDENTS, incident_id)

    def incidents(self, *, where: dict[str, Any], offset: int, limit: int) -> tuple[list[View], int]:
        """A page of the views whose tags match, newest opened first, and how many match."""
        return self.docs.query(INCIDENTS, where=where, offset=offset, limit=limit, newest_first=True)

    def anomalies(self, incident_id: str, *, offset: int, limit: int) -> tuple[list[dict[str, Any]], int]:
        """A page of an incident's anomalies in the order they were recorded, and how many it has."""
        return self.docs.items(ANOMALIES, incident_id, offset=offset, limit=limit), self.docs.count_items(ANOMALIES, incident_id)

    async def reached(self, incident_id: str, version: int) -> bool:
        """Wait (a few seconds at most) until the incident's view holds ``version`` (read your own writes)."""

        def holds(docs: Documents) -> bool:
            return (docs.get(INCIDENTS, incident_id) or {}).get("version", 0) >= version

        return await self.wait_for(holds, timeout=READ_YOUR_WRITES_SECONDS)

    def open_by_severity(self) -> list[tuple[str, int]]:
        """How many incidents are open, by severity (one indexed counting query, for the metrics)."""
        return self.db.execute(
            "SELECT s.value, COUNT(*) FROM tags o JOIN tags s ON s.coll = o.coll AND s.key = o.key AND s.name = 'severity' "
            "WHERE o.coll = ? AND o.name = 'status' AND o.value = 'open' GROUP BY s.value",
            (INCIDENTS,),
        ).fetchall()

    def overdue_reports(self) -> list[tuple[str, int]]:
        """Open incidents whose report of a part was flagged overdue and is still not filed, by part."""
        return self.db.execute(
            "SELECT json_extract(o.value, '$.part') AS part, COUNT(DISTINCT d.key) FROM tags t "
            "JOIN docs d ON d.coll = t.coll AND d.key = t.key, json_each(d.doc, '$.overdue') o "
            "WHERE t.coll = ? AND t.name = 'status' AND t.value = 'open' "
            "AND json_array_length(d.doc, '$.reports.' || json_extract(o.value, '$.part')) = 0 GROUP BY part",
            (INCIDENTS,),
        ).fetchall()

    # ------------------------------------------------------------------ the directory

    def connection(self, connection_id: str) -> ConnectionRef | None:
        """The connection's operator and kind, if it was registered (kept at hand until a registration)."""
        return self._refs(connection_id)

    def _lookup(self, connection_id: str) -> ConnectionRef | None:
        found = self.docs.get(connections.CONNECTIONS, connection_id)
        return ConnectionRef(found["operator_id"], found["kind"]) if found else None

    def blocked_for(self, incident_id: str) -> dict[str, str]:
        """Every connection blocked for the incident: connection id → operator id (what clearing names)."""
        blocked: dict[str, str] = {}
        while True:
            page, total = connections.blocks(self.docs, incident_id, offset=len(blocked), limit=PAGE)
            blocked.update((b["connection_id"], b["operator_id"]) for b in page)
            if not page or len(blocked) >= total:
                return blocked

    def blocked_operators(self, incident_id: str) -> list[str]:
        """Operators whose connections were blocked for the incident."""
        return connections.blocked_operators(self.docs, incident_id)

    def blocks(self, incident_id: str, *, operator_id: str | None, limit: int) -> tuple[list[dict[str, Any]], int]:
        """The first ``limit`` connections blocked for the incident (of one operator, when given), and how many."""
        return connections.blocks(self.docs, incident_id, operator_id=operator_id, limit=limit)

    # ------------------------------------------------------------------ replay

    def snapshot(self) -> dict[str, Any]:
        """Everything as plain JSON data: views, every anomaly, connections, blocked connections per incident."""
        views = dict(self.docs.every(INCIDENTS))
        blocked: dict[str, dict[str, str]] = {}
        for _, block in self.docs.every(connections.BLOCKS):
            blocked.setdefault(block["incident_id"], {})[block["connection_id"]] = block["operator_id"]
        return {
            "incidents": views,
            "anomalies": {i: self._every_anomaly(i) for i in views if views[i]["anomaly_count"]},
            "connections": dict(self.docs.every(connections.CONNECTIONS)),
            "blocked": {i: dict(sorted(by.items())) for i, by in sorted(blocked.items())},
        }

    def _every_anomaly(self, incident_id: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        while page := self.docs.items(ANOMALIES, incident_id, offset=len(found), limit=PAGE):
            found += page
        return found
