"""The incident service's parts, as its entrypoints use them."""

from __future__ import annotations

from dataclasses import dataclass

from shared.auth import Principal
from shared.eventstore import Context
from shared.http import context_of
from shared.events.values import Party
from services.incident.application.handlers import require_party
from services.incident.application.ports import Clock
from services.incident.application.repository import IncidentRepository
from services.incident.projections.connections import ConnectionDirectoryView
from services.incident.projections.incidents import IncidentViews


@dataclass
class IncidentService:
    """Repository, projections and clock of one running incident service."""

    repo: IncidentRepository
    directory: ConnectionDirectoryView
    views: IncidentViews
    clock: Clock

    def party_of(self, incident_id: str, principal: Principal) -> Party:
        """The party the caller acts as on the incident; 404 when it is not one of its parties."""
        incident = self.repo.get(incident_id)
        return require_party(incident, self.directory, role=principal.role, operator_id=principal.operator_id)

    def write_context(self, incident_id: str, principal: Principal) -> Context:
        """Envelope context of a write: the operator acting, or the incident's operator for the utility."""
        if principal.role == "operator":
            return context_of(principal)
        return context_of(principal, operator_id=self.repo.load(incident_id).operator_id)
