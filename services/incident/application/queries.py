"""Reading incidents as a caller may: one incident (reading your own writes), its anomalies, or a filtered page."""

from __future__ import annotations

from typing import Any

from shared.domain import not_found
from shared.eventstore import NotOwner
from shared.principal import Principal
from services.incident.application.service import IncidentService
from services.incident.projections.incidents import View
from services.incident.projections.queries import (
    SHOWN_BLOCKS,
    IncidentFilter,
    concerned,
    for_reader,
    page,
    report_due,
    summary,
    tags_for,
    visible,
)


async def incident(svc: IncidentService, incident_id: str, *, by: Principal) -> View:
    """The incident as the caller may see it; 404 when it may not (or there is none)."""
    view = await _visible(svc, incident_id, by)
    own = by.operator_id if by.role == "operator" else None
    blocks, blocked = svc.views.blocks(incident_id, operator_id=own, limit=SHOWN_BLOCKS)
    operators = concerned(view, svc.views.blocked_operators(incident_id))
    shown = for_reader(view, by, operators=operators, blocks=blocks, blocked=blocked)
    return shown | {"report_due": report_due(view, svc.deadlines)}


async def anomalies(svc: IncidentService, incident_id: str, *, by: Principal, offset: int, limit: int) -> dict[str, Any]:
    """A page of every anomaly of an incident the caller may see, in the order they were recorded."""
    await _visible(svc, incident_id, by)
    items, total = svc.views.anomalies(incident_id, offset=offset, limit=limit)
    return page(items, total=total, limit=limit, offset=offset)


def incidents(svc: IncidentService, where: IncidentFilter, *, by: Principal, limit: int, offset: int) -> dict[str, Any]:
    """A page of the incidents the caller may see that match, newest first (one tagged query)."""
    tags = tags_for(where, by)
    if tags is None:
        return page([], total=0, limit=limit, offset=offset)
    views, total = svc.views.incidents(where=tags, offset=offset, limit=limit)
    items = [summary(v, operators=_shown_operators(svc, v, by)) | {"report_due": report_due(v, svc.deadlines)} for v in views]
    return page(items, total=total, limit=limit, offset=offset)


async def _visible(svc: IncidentService, incident_id: str, by: Principal) -> View:
    """The incident's view once it holds what this instance decided, if the caller may see it; else 404."""
    await svc.views.reached(incident_id, _known_version(svc, incident_id))
    view = svc.views.incident(incident_id)
    if view is None or not visible(view, by, blocked_operators=svc.views.blocked_operators(incident_id)):
        raise not_found("incident", incident_id)
    return view


def _known_version(svc: IncidentService, incident_id: str) -> int:
    """The version this instance holds of an incident it owns (0 for another instance's: nothing to wait for)."""
    try:
        svc.store.require_owner(incident_id)
    except NotOwner:
        return 0
    snapshot = svc.store.snapshot(incident_id)
    return snapshot.version if snapshot else 0


def _shown_operators(svc: IncidentService, view: View, by: Principal) -> list[str]:
    if by.role == "operator":
        return [by.operator_id or ""]
    return concerned(view, svc.views.blocked_operators(view["id"]))
