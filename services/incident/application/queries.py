"""Reading incidents as a caller may: one incident (reading your own writes), or a filtered page."""

from __future__ import annotations

from shared.domain import not_found
from shared.principal import Principal
from services.incident.application.service import IncidentService
from services.incident.projections.incidents import View
from services.incident.projections.queries import IncidentFilter, for_reader, list_page, visible

READ_YOUR_WRITES_SECONDS = 3.0


async def incident(svc: IncidentService, incident_id: str, *, by: Principal) -> View:
    """The incident as the caller may see it, once the view holds what the store holds; 404 when not visible."""
    await svc.views.wait_for(incident_id, svc.repo.store.version(incident_id), timeout=READ_YOUR_WRITES_SECONDS)
    view = svc.views.views.get(incident_id)
    blocked = svc.directory.blocked_for(incident_id)
    if view is None or not visible(view, by, blocked=blocked):
        raise not_found("incident", incident_id)
    return for_reader(view, by, blocked=blocked)


def incidents(svc: IncidentService, where: IncidentFilter, *, by: Principal, limit: int, offset: int) -> dict[str, object]:
    """A page of the incidents the caller may see that match, newest first."""
    views = list(svc.views.views.values())
    return list_page(views, principal=by, blocked_for=svc.directory.blocked_for, where=where, limit=limit, offset=offset)
