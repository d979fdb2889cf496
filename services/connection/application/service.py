"""What the connection service's handlers need, built once by the bootstrap."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Callable

from services.connection.application.ports import SecretSealer
from services.connection.domain.model import Connection
from services.connection.domain.operator import Operator
from services.connection.domain.policy import BlockPolicy
from services.connection.projections.directory import Directory
from services.connection.projections.incidents import IncidentInfo
from shared.clock import Clock, japan_date, utcnow
from shared.eventstore import AppendResult, EventStore
from shared.eventstore.follow import Follower
from shared.repository import Repository, Saved

Committed = Callable[[AppendResult | Saved], None]
"""Told of every append that landed (the enforcement worker sends a request only once its event did)."""


@dataclass
class ConnectionService:
    """The repositories of Connection, Operator and BlockPolicy, the read models decided with, the sealer, the clock."""

    store: EventStore
    sealer: SecretSealer
    clock: Clock = utcnow
    upcoming_days: int = 30
    incidents: dict[str, IncidentInfo] = field(default_factory=dict)
    listeners: list[Committed] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.connections = Repository(self.store, Connection, name="connection")
        self.operators = Repository(self.store, Operator, name="operator")
        self.policies = Repository(self.store, BlockPolicy, name="block policy")
        self._directory = Directory()
        self._follower = Follower(self.store, fold=self._directory.fold, reset=self._directory.reset)

    @property
    def directory(self) -> Directory:
        """The directory with every event the store holds folded in, staged ones too (read-your-writes)."""
        self._follower.catch_up()
        return self._directory

    def today(self) -> date:
        """The clock's calendar day in Japan, where the agreement is lived."""
        return japan_date(self.clock())

    def committed(self, outcome: AppendResult | Saved) -> None:
        """An append landed: tell the listeners (a replayed idempotency key is no new fact)."""
        if outcome.replayed or not outcome.envelopes:
            return
        for listener in self.listeners:
            listener(outcome)
