"""What callers may read: connections of their tenant, the block policy, open recommendations, the read model."""

from __future__ import annotations

from typing import Any

from services.connection.application.service import ConnectionService
from services.connection.domain.policy import POLICY_ID
from services.connection.projections.directory import ConnectionView
from services.connection.projections.public import connection_public, listed_recommendations
from services.connection.projections.readmodel import snapshot
from shared.domain import not_found
from shared.principal import Principal


def visible_connection(service: ConnectionService, principal: Principal, connection_id: str) -> ConnectionView:
    """A connection the caller may see, else 404 (another tenant's looks the same as none)."""
    view = service.directory.get(connection_id)
    if view is None or not principal.may_see_operator(view.connection.operator_id):
        raise not_found("connection", connection_id)
    return view


def connection(service: ConnectionService, principal: Principal, connection_id: str) -> dict[str, Any]:
    """One connection as the caller may see it (``ConnectionPublic``)."""
    return connection_public(visible_connection(service, principal, connection_id))


def connection_page(
    service: ConnectionService, principal: Principal, *, status: str | None, operator_id: str | None, offset: int,
    limit: int,
) -> dict[str, Any]:
    """A page of the connections the caller may see, in registration order (an operator sees its own only)."""
    if principal.role == "operator" and operator_id not in (None, principal.operator_id):
        return {"items": [], "total": 0, "offset": offset, "limit": limit, "next_offset": None}
    tenant = principal.operator_id if principal.role == "operator" else operator_id
    views = [v for v in service.directory.of_operator(tenant) if status is None or v.connection.status == status]
    more = offset + limit < len(views)
    return {
        "items": [connection_public(v) for v in views[offset : offset + limit]],
        "total": len(views), "offset": offset, "limit": limit, "next_offset": offset + limit if more else None,
    }  # fmt: skip


def recommendation_owner(service: ConnectionService, recommendation_id: str) -> str:
    """The connection a block recommendation is about, or 404."""
    connection_id = service.directory.recommendations.get(recommendation_id)
    if connection_id is None:
        raise not_found("block recommendation", recommendation_id)
    return connection_id


def open_recommendations(service: ConnectionService) -> list[dict[str, Any]]:
    """Open block recommendations whose incident is not cleared, oldest first."""
    return listed_recommendations(service.directory, service.incidents)


def block_policy(service: ConnectionService) -> dict[str, str]:
    """The block policy in force: reason → auto, recommend or off."""
    return dict(service.policies.load(POLICY_ID).modes)


def read_model(service: ConnectionService) -> dict[str, Any]:
    """The live read models as one snapshot (the replay protocol compares it with the topics')."""
    return snapshot(service.directory, service.incidents)
