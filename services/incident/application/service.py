"""The incident service's parts that handlers and queries work with; bootstrap builds it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from shared.clock import Clock
from shared.eventstore import EventStore
from shared.repository import Repository
from services.incident.application.ports import ConnectionDirectory
from services.incident.domain.model import Incident
from services.incident.projections.readmodel import IncidentReadModel


@dataclass
class IncidentService:
    """Incidents in the event store, the connections they decide with, the read model, the clock and the deadlines."""

    repo: Repository[Incident]
    directory: ConnectionDirectory
    views: IncidentReadModel
    clock: Clock
    deadlines: dict[str, timedelta]

    @classmethod
    def over(
        cls,
        store: EventStore,
        *,
        directory: ConnectionDirectory,
        views: IncidentReadModel,
        clock: Clock,
        deadlines: dict[str, timedelta],
    ) -> "IncidentService":
        """The service over one event store."""
        return cls(Repository(store, Incident, name="incident"), directory, views, clock, deadlines)

    @property
    def store(self) -> EventStore:
        """The event store the incidents are in (what this instance owns, markers, lookups by index)."""
        return self.repo.store
