"""What the read routes answer, from the read models, with the tenancy rules applied."""

from __future__ import annotations

from typing import Any

from shared.domain import not_found
from shared.events.notification import Recipient
from shared.principal import Principal
from shared.webhooks import KEY_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, TOLERANCE_SECONDS, key_id
from services.notification.application.service import NotificationService

CONTACT_ORDER = ("security_incident", "applicant")


def contacts(service: NotificationService, operator_id: str, *, principal: Principal) -> dict[str, Any]:
    """An operator's contacts, security-incident contact first (another tenant's: not found)."""
    principal.require_operator(operator_id)
    known = service.views.contacts_of(operator_id)
    return {"operator_id": operator_id, "contacts": [known[k] for k in CONTACT_ORDER if k in known]}


def contact_webhook_secret(service: NotificationService, operator_id: str, kind: str, *, principal: Principal) -> dict[str, Any]:
    """The secret a contact's webhook requests are signed with (another tenant's, or no webhook: not found)."""
    principal.require_operator(operator_id)
    fields = service.views.contacts_of(operator_id).get(kind)
    if not fields or not fields.get("webhook_url"):
        raise not_found("contact webhook", f"{operator_id}/{kind}")
    recipient = Recipient(kind=kind, operator_id=operator_id, name=fields["name"], webhook_url=fields["webhook_url"])  # type: ignore[arg-type]
    return signing_of(service, recipient)


def desk_webhook_secret(service: NotificationService) -> dict[str, Any]:
    """The secret the utility desk's webhook requests are signed with (not found when it has no webhook)."""
    if not service.desk.primary.webhook_url:
        raise not_found("desk webhook", "primary")
    return signing_of(service, service.desk.primary)


def signing_of(service: NotificationService, recipient: Recipient) -> dict[str, Any]:
    """How a recipient verifies its requests: the secret, its key id, the scheme and the tolerance."""
    secret = service.webhook_secret(recipient)
    return {
        "webhook_url": recipient.webhook_url, "key_id": key_id(secret), "secret": secret.decode(),
        "algorithm": "HMAC-SHA256", "signed_content": "<timestamp>.<body>", "tolerance_seconds": TOLERANCE_SECONDS,
        "headers": {"timestamp": TIMESTAMP_HEADER, "signature": SIGNATURE_HEADER, "key_id": KEY_ID_HEADER},
    }  # fmt: skip


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


def members(
    service: NotificationService, notification_id: str, *, principal: Principal, offset: int = 0, limit: int = 100
) -> dict[str, Any]:
    """Every member of a coalesced notice (connections, incidents), a page at a time (another tenant's: not found)."""
    notification(service, notification_id, principal=principal)
    items, total = service.views.members(notification_id, offset=offset, limit=limit)
    more = offset + limit < total
    return {
        "notification_id": notification_id, "items": items, "total": total, "offset": offset, "limit": limit,
        "next_offset": offset + limit if more else None,
    }  # fmt: skip
