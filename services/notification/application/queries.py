"""What the read routes answer, from the read models, with the tenancy rules applied."""

from __future__ import annotations

from typing import Any

from shared.domain import not_found
from shared.principal import Principal
from services.notification.application.service import NotificationService

CONTACT_ORDER = ("security_incident", "applicant")


def contacts(service: NotificationService, operator_id: str, *, principal: Principal) -> dict[str, Any]:
    """An operator's contacts, security-incident contact first (another tenant's: not found)."""
    principal.require_operator(operator_id)
    known = service.views.contacts_of(operator_id)
    return {"operator_id": operator_id, "contacts": [known[k] for k in CONTACT_ORDER if k in known]}


def notifications(
    service: NotificationService,
    *,
    principal: Principal,
    status: str | None = None,
    operator_id: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> dict[str, Any]:
    """Notifications to or from the caller's tenant (every one for utility roles and auditors), newest first.

    One tagged query of the read model, a page at a time: an operator's own tenant is always the filter.
    """
    if principal.party == "operator":
        if principal.operator_id is None or operator_id not in (None, principal.operator_id):
            return {"items": [], "total": 0, "limit": limit, "offset": offset}
        operator_id = principal.operator_id
    items, total = service.views.page(operator_id=operator_id, status=status, offset=offset, limit=limit)
    return {"items": items, "total": total, "limit": limit, "offset": offset}


def notification(service: NotificationService, notification_id: str, *, principal: Principal) -> dict[str, Any]:
    """One notification (another tenant's: not found)."""
    view = service.views.notification(notification_id)
    if view is None or not principal.may_see_operator(view["operator_id"]):
        raise not_found("notification", notification_id)
    return view
