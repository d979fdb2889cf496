"""The directory of connections and their block recommendations, folded from the connection topic.

Each connection's document keeps its aggregate state (folded with the aggregate's own ``fold``, so
the view and the decisions never disagree), the times only the envelopes know, and the public view
the GET routes answer with. Tags: ``operator``, ``status`` and ``incident`` (the recent incidents
that blocked it, for bulk approval), ``model`` and ``meter`` (the aggregate's own fleet-matching index, for
the preview of a vulnerability's reach); sorted by registration.
"""

from __future__ import annotations

from datetime import timezone
from typing import Any

from pydantic_core import to_jsonable_python

from services.connection.domain.model import Connection
from services.connection.projections.incidents import is_cleared
from services.connection.projections.public import connection_public
from shared.documents import Documents
from shared.envelope import Envelope
from shared.events.connection import BlockRecommendationRejected, BlockRecommended, ConnectionBlocked, ConnectionReconnected

CONNECTIONS, RECOMMENDATIONS = "connections", "recommendations"


def fold_connection(docs: Documents, envelope: Envelope) -> None:
    """One event of a connection's stream: its document, and the recommendation it raises or decides."""
    doc = docs.get(CONNECTIONS, envelope.subject) or {"version": 0, "state": None, "times": {}}
    if envelope.sequence <= doc["version"]:
        return  # the same event again (written twice): applied already
    connection = Connection.restore(envelope.subject, doc["version"], doc["state"] or {})
    connection.fold([envelope.event])
    times = _times(doc["times"], connection, envelope)
    docs.put(
        CONNECTIONS, connection.id,
        {"version": connection.version, "state": connection.snapshot(), "times": times,
         "public": connection_public(connection, times)},
        sort=times["sort"],
        tags=connection_tags(connection),
    )  # fmt: skip
    _recommendation(docs, connection, envelope)


def connection_tags(connection: Connection) -> dict[str, Any]:
    """What a connection's document is found by."""
    index = connection.index()
    return {
        "operator": connection.operator_id, "status": connection.status, "incident": connection.blocked_by_ever,
        "model": index.get("model", []), "meter": index.get("meter", []),
    }  # fmt: skip


def retag_connections(docs: Documents) -> int:
    """Tag every connection document again (read models written before a tag existed); how many were."""
    count = 0
    for key, doc in list(docs.every(CONNECTIONS)):
        connection = Connection.restore(key, doc["version"], doc["state"] or {})
        docs.put(CONNECTIONS, key, doc, sort=doc["times"]["sort"], tags=connection_tags(connection))
        count += 1
    return count


def sort_key(envelope: Envelope) -> str:
    """The envelope's time as text that sorts as the time does (fixed width, UTC)."""
    return envelope.time.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")


def _times(times: dict[str, Any], connection: Connection, envelope: Envelope) -> dict[str, Any]:
    """Registration, last change, when each hold began and each request was made (of what the state still holds)."""
    at, event = to_jsonable_python(envelope.time), envelope.event
    blocked_at = {i: t for i, t in times.get("blocked_at", {}).items() if i in connection.holds}
    requested_at = {r: t for r, t in times.get("requested_at", {}).items() if r in connection.requests}
    if isinstance(event, ConnectionBlocked):
        blocked_at[event.incident_id] = at
    if isinstance(event, (ConnectionBlocked, ConnectionReconnected)):
        requested_at[event.request_id] = at
    return {
        "registered_at": times.get("registered_at", at), "updated_at": at,
        "sort": times.get("sort", sort_key(envelope)),
        "blocked_at": blocked_at, "requested_at": requested_at,
    }  # fmt: skip


def _recommendation(docs: Documents, connection: Connection, envelope: Envelope) -> None:
    event = envelope.event
    if isinstance(event, BlockRecommended):
        doc = {
            "id": event.recommendation_id, "connection_id": connection.id, "operator_id": connection.operator_id,
            "reason": event.reason, "incident_id": event.incident_id, "status": "open",
        }  # fmt: skip
        put_recommendation(docs, doc, cleared=is_cleared(docs, event.incident_id), sort=sort_key(envelope))
    elif isinstance(event, BlockRecommendationRejected):
        _decided(docs, event.recommendation_id, "rejected")
    elif isinstance(event, ConnectionBlocked) and event.recommendation_id:
        _decided(docs, event.recommendation_id, "confirmed")


def _decided(docs: Documents, recommendation_id: str, status: str) -> None:
    doc = docs.get(RECOMMENDATIONS, recommendation_id)
    if doc is not None:
        put_recommendation(docs, {**doc, "status": status}, cleared=False)


def put_recommendation(docs: Documents, doc: dict[str, Any], *, cleared: bool, sort: str | None = None) -> None:
    """Write a recommendation; it is listed while open and its incident not cleared (the one rule)."""
    listed = doc["status"] == "open" and not cleared
    tags = {"incident": doc["incident_id"], "listed": "1" if listed else None}
    sort = sort if sort is not None else doc.get("sort", "")
    docs.put(RECOMMENDATIONS, doc["id"], {**doc, "listed": listed, "sort": sort}, sort=sort, tags=tags)


def unlist_for(docs: Documents, incident_id: str) -> None:
    """An incident was cleared: its open recommendations leave the analysts' work list."""
    while True:
        listed, _ = docs.query(RECOMMENDATIONS, where={"incident": incident_id, "listed": "1"}, limit=500)
        if not listed:
            return
        for doc in listed:
            put_recommendation(docs, doc, cleared=True)
