"""What the connection service's handlers need, built once by the bootstrap."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from services.connection.application.ports import Owners, SecretSealer
from services.connection.domain.model import Connection
from services.connection.domain.operator import Operator
from services.connection.domain.policy import BlockPolicy
from services.connection.projections.views import Views
from shared.clock import Clock, japan_date, utcnow
from shared.eventstore import EventStore
from shared.repository import Repository


@dataclass
class ConnectionService:
    """The repositories of Connection, Operator and BlockPolicy, the read models, the other instances, the clock."""

    store: EventStore
    sealer: SecretSealer
    views: Views
    owners: Owners
    clock: Clock = utcnow
    upcoming_days: int = 30

    def __post_init__(self) -> None:
        self.connections = Repository(self.store, Connection, name="connection")
        self.operators = Repository(self.store, Operator, name="operator")
        self.policies = Repository(self.store, BlockPolicy, name="block policy")

    def today(self) -> date:
        """The clock's calendar day in Japan, where the agreement is lived."""
        return japan_date(self.clock())
