"""The service's read model of its own streams: connections, operators, the policy, indexes.

Built from the event store at start and brought up to date after each append (``sync``), so a
caller reads its own writes. It holds nothing the streams do not say.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, Iterable, Iterator

from services.connection.domain.connection import Connection
from services.connection.domain.policy import DEFAULT_POLICY, POLICY_ID
from shared import topics
from shared.envelope import Envelope
from shared.events.connection import BlockPolicyChanged, BlockRecommended, ConnectionBlocked, ConnectionReconnected
from shared.events.operator import OperatorOnboarded


@dataclass
class ConnectionView:
    """A connection's state plus what only the envelopes know (times)."""

    connection: Connection
    registered_at: datetime | None = None
    updated_at: datetime | None = None
    blocked_at: dict[str, datetime] = field(default_factory=dict)
    requested_at: dict[str, datetime] = field(default_factory=dict)

    @property
    def version(self) -> int:
        """Events applied."""
        return self.connection.version


def apply(view: ConnectionView, envelope: Envelope) -> ConnectionView:
    """Apply one event of the connection's stream."""
    view.connection._apply(envelope.event)
    view.connection.version += 1
    event = envelope.event
    view.updated_at = envelope.time
    if view.registered_at is None:
        view.registered_at = envelope.time
    if isinstance(event, ConnectionBlocked):
        view.blocked_at[event.incident_id] = envelope.time
    if isinstance(event, (ConnectionBlocked, ConnectionReconnected)):
        view.requested_at[event.request_id] = envelope.time
    return view


class Directory:
    """Connections by id, operator, smart meter, blocking incident and recommendation; operators; policy."""

    def __init__(self, load: Callable[[str], list[Envelope]]) -> None:
        self._load = load
        self.connections: dict[str, ConnectionView] = {}
        self.order: list[str] = []
        self._listed: set[str] = set()
        self.by_operator: dict[str, list[str]] = {}
        self.by_meter: dict[str, set[str]] = {}
        self.by_incident: dict[str, set[str]] = {}
        self.recommendations: dict[str, str] = {}
        self.pending_requests: dict[str, str] = {}
        self.operators: dict[str, str] = {}
        self._policy_times: list[datetime] = []
        self._policies: list[dict[str, str]] = []

    def rebuild(self, envelopes: Iterable[Envelope]) -> None:
        """Fold every envelope of the store (at start)."""
        for envelope in envelopes:
            if envelope.event.topic == topics.CONNECTION_EVENTS:
                self._advance(envelope.subject, [envelope])
            else:
                self.note(envelope)

    def note(self, envelope: Envelope) -> None:
        """Take in an operator or policy event."""
        event = envelope.event
        if isinstance(event, OperatorOnboarded):
            self.operators[event.operator_id] = event.name
        elif isinstance(event, BlockPolicyChanged) and envelope.subject == POLICY_ID:
            self._policy_times.append(envelope.time)
            self._policies.append(dict(event.policy))

    def sync(self, connection_id: str) -> ConnectionView | None:
        """Bring one connection up to the store's events for it."""
        envelopes = self._load(connection_id)
        view = self.connections.get(connection_id)
        if view is not None and len(envelopes) < view.version:  # the store re-read its topics after a failure
            del self.connections[connection_id]
            view = None
        start = view.version if view else 0
        return self._advance(connection_id, envelopes[start:]) if envelopes[start:] else view

    def _advance(self, connection_id: str, envelopes: list[Envelope]) -> ConnectionView:
        view = self.connections.get(connection_id)
        if view is None:
            view = self.connections[connection_id] = ConnectionView(Connection(connection_id))
        for envelope in envelopes:
            apply(view, envelope)
            self._index(connection_id, view, envelope)
        return view

    def _index(self, connection_id: str, view: ConnectionView, envelope: Envelope) -> None:
        event = envelope.event
        if view.version == 1 and connection_id not in self._listed:
            self._listed.add(connection_id)
            self.order.append(connection_id)
            self.by_operator.setdefault(view.connection.operator_id, []).append(connection_id)
            for meter in view.connection.smart_meter_ids:
                self.by_meter.setdefault(meter, set()).add(connection_id)
        if isinstance(event, ConnectionBlocked):
            self.by_incident.setdefault(event.incident_id, set()).add(connection_id)
        if isinstance(event, BlockRecommended):
            self.recommendations[event.recommendation_id] = connection_id
        request_id = getattr(event, "request_id", None)
        if request_id:
            request = view.connection.requests.get(request_id)
            if request is not None and request.pending:
                self.pending_requests[request_id] = connection_id
            else:
                self.pending_requests.pop(request_id, None)

    def get(self, connection_id: str) -> ConnectionView | None:
        """The view of a registered connection."""
        view = self.sync(connection_id)
        return view if view is not None and view.connection.exists else None

    def of_operator(self, operator_id: str | None) -> Iterator[ConnectionView]:
        """Connections in registration order, of one operator or of all."""
        ids = self.by_operator.get(operator_id, []) if operator_id else self.order
        for connection_id in ids:
            yield self.connections[connection_id]

    def policy_at(self, when: datetime | None) -> dict[str, str]:
        """The block policy in force at a time (the latest when ``when`` is None)."""
        index = len(self._policies) if when is None else bisect.bisect_right(self._policy_times, when)
        return {**DEFAULT_POLICY, **self._policies[index - 1]} if index else dict(DEFAULT_POLICY)
