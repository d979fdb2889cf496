"""What the read routes answer, from the views, with the tenancy rules applied."""

from __future__ import annotations

from typing import Any

from shared.domain import not_found
from shared.principal import Principal
from services.notification.application.service import NotificationService

CONTACT_ORDER = ("security_incident", "applicant")


def contacts(service: NotificationService, operator_id: str, *, principal: Principal) -> dict[str, Any]:
    """An operator's contacts, security-incident contact first (another tenant's: not found)."""
    principal.require_operator(operator_id)
    known = service.views.contacts.get(operator_id, {})
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
    """Notifications to or from the caller's tenant (every one for utility roles and auditors), newest first."""
    items = [
        n for n in service.views.notifications.values()
        if principal.may_see_operator(n["operator_id"])
        and (status is None or n["status"] == status)
        and (operator_id is None or n["operator_id"] == operator_id)
    ]  # fmt: skip
    items.sort(key=lambda n: (n["queued_at"], n["id"]), reverse=True)
    return {"items": items[offset : offset + limit], "total": len(items), "limit": limit, "offset": offset}


def notification(service: NotificationService, notification_id: str, *, principal: Principal) -> dict[str, Any]:
    """One notification (another tenant's: not found)."""
    view = service.views.notifications.get(notification_id)
    if view is None or not principal.may_see_operator(view["operator_id"]):
        raise not_found("notification", notification_id)
    return view
