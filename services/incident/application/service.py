"""The incident service's parts that handlers and queries work with; bootstrap builds it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from shared.clock import Clock
from shared.eventstore import EventStore
from shared.repository import Repository
from services.incident.application.index import IncidentIndex
from services.incident.application.ports import ConnectionDirectory
from services.incident.domain.model import Incident
from services.incident.projections.incidents import IncidentViews


@dataclass
class IncidentService:
    """Incidents in the event store, what the decisions look up, the read model, the clock and the deadlines."""

    repo: Repository[Incident]
    index: IncidentIndex
    directory: ConnectionDirectory
    views: IncidentViews
    clock: Clock
    deadlines: dict[str, timedelta]

    @classmethod
    def over(
        cls,
        store: EventStore,
        *,
        directory: ConnectionDirectory,
        views: IncidentViews,
        clock: Clock,
        deadlines: dict[str, timedelta],
    ) -> "IncidentService":
        """The service over one event store (its repository and index both follow that store)."""
        repo = Repository(store, Incident, name="incident")
        return cls(repo, IncidentIndex(store), directory, views, clock, deadlines)
