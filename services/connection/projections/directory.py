"""The service's read model of its own streams: connections, operators, the policy, indexes.

A pure fold of the store's envelopes (``fold``; ``reset`` before folding everything anew). The live
service keeps it up to date with a ``shared.eventstore.follow.Follower`` over its store, staged
events included, so a caller reads its own writes; a replay folds the same envelopes read from the
topics. It holds nothing the streams do not say.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterator

from services.connection.domain.model import Connection
from services.connection.domain.policy import DEFAULT_POLICY, POLICY_ID
from shared import topics
from shared.envelope import Envelope
from shared.events.connection import (
    BlockPolicyChanged,
    BlockRecommended,
    ConnectionBlocked,
    ConnectionReconnected,
    ConnectionRegistered,
)
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
    event = envelope.event
    view.connection.fold([event])
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

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget everything (before folding the store's events anew)."""
        self.connections: dict[str, ConnectionView] = {}
        self.order: list[str] = []
        self.by_operator: dict[str, list[str]] = {}
        self.by_meter: dict[str, set[str]] = {}
        self.by_incident: dict[str, set[str]] = {}
        self.recommendations: dict[str, str] = {}
        self.pending_requests: dict[str, str] = {}
        self.operators: dict[str, str] = {}
        self._policy_times: list[datetime] = []
        self._policies: list[dict[str, str]] = []

    def fold(self, envelope: Envelope) -> None:
        """Take in one envelope of the store (any of its topics)."""
        event = envelope.event
        if event.topic == topics.CONNECTION_EVENTS:
            view = self.connections.setdefault(envelope.subject, ConnectionView(Connection(envelope.subject)))
            self._index(envelope.subject, apply(view, envelope), envelope)
        elif isinstance(event, OperatorOnboarded):
            self.operators[event.operator_id] = event.name
        elif isinstance(event, BlockPolicyChanged) and envelope.subject == POLICY_ID:
            self._policy_times.append(envelope.time)
            self._policies.append(dict(event.policy))

    def _index(self, connection_id: str, view: ConnectionView, envelope: Envelope) -> None:
        event = envelope.event
        if isinstance(event, ConnectionRegistered):
            self.order.append(connection_id)
            self.by_operator.setdefault(event.operator_id, []).append(connection_id)
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
        view = self.connections.get(connection_id)
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
