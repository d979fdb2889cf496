"""HTTP routes of the notification service: contacts, notifications, acknowledgements."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, EmailStr, Field

from shared.auth import Principal, require_roles
from shared.domain import Forbidden
from shared.eventstore import EventStore
from shared.events.values import Actor
from shared.http import context_of
from shared.domain import not_found
from services.notification.application import handlers
from services.notification.domain.contacts import SetContact
from services.notification.projections.views import Views

READERS = ("utility_soc", "utility_desk", "operator", "auditor")
Status = Literal["queued", "delivered", "failed", "acknowledged", "escalated"]
router = APIRouter(tags=["notification"])


class ContactPut(BaseModel):
    """A contact as the operator (or the utility's SOC) registers it."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    organisation: str = Field(min_length=1, max_length=200)
    email: EmailStr
    phone: str = Field(min_length=1, max_length=50)
    webhook_url: AnyHttpUrl | None = None


def _store(request: Request) -> EventStore:
    return request.app.state.notification_store


def _views(request: Request) -> Views:
    return request.app.state.notification_views.views


@router.put("/operators/{operator_id}/contacts/{kind}")
async def put_contact(
    operator_id: str,
    kind: Literal["applicant", "security_incident"],
    body: ContactPut,
    request: Request,
    response: Response,
    principal: Annotated[Principal, Depends(require_roles("operator", "utility_soc"))],
) -> dict[str, Any]:
    """Register or change a contact; 201 the first time, 200 after; an identical PUT changes nothing."""
    if not principal.may_see_operator(operator_id):
        raise not_found("operator", operator_id)
    command = SetContact(
        operator_id=operator_id, kind=kind, name=body.name, organisation=body.organisation, email=str(body.email),
        phone=body.phone, webhook_url=str(body.webhook_url) if body.webhook_url else None,
        changed_by=Actor(kind="person", id=principal.sub, role=principal.role),
    )
    store = _store(request)
    first = handlers.load_contacts(store, operator_id).get(kind) is None
    contacts, changed = await handlers.set_contact(store, command, context=context_of(principal, operator_id=operator_id))
    response.status_code = 201 if first else 200
    return {"operator_id": operator_id, "kind": kind, **(contacts.get(kind) or {}), "changed": changed, "version": store.version(operator_id)}


@router.get("/operators/{operator_id}/contacts")
async def get_contacts(
    operator_id: str, request: Request, principal: Annotated[Principal, Depends(require_roles(*READERS))]
) -> dict[str, Any]:
    """An operator's contacts (that operator, utility roles and auditors)."""
    if not principal.may_see_operator(operator_id):
        raise not_found("operator", operator_id)
    contacts = _views(request).contacts.get(operator_id, {})
    return {"operator_id": operator_id, "contacts": [contacts[k] for k in ("security_incident", "applicant") if k in contacts]}


@router.get("/notifications")
async def list_notifications(
    request: Request,
    principal: Annotated[Principal, Depends(require_roles(*READERS))],
    status: Status | None = None,
    operator_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    """Notifications to or from the caller's tenant (all of them for utility roles and auditors), newest first."""
    items = [
        n for n in _views(request).notifications.values()
        if principal.may_see_operator(n["operator_id"])
        and (status is None or n["status"] == status)
        and (operator_id is None or n["operator_id"] == operator_id)
    ]
    items.sort(key=lambda n: (n["queued_at"], n["id"]), reverse=True)
    return {"items": items[offset: offset + limit], "total": len(items), "limit": limit, "offset": offset}


@router.get("/notifications/{notification_id}")
async def get_notification(
    notification_id: str, request: Request, principal: Annotated[Principal, Depends(require_roles(*READERS))]
) -> dict[str, Any]:
    """One notification: recipient, route, channel, status, attempts, last error, the event it tells of."""
    view = _views(request).notifications.get(notification_id)
    if view is None or not principal.may_see_operator(view["operator_id"]):
        raise not_found("notification", notification_id)
    return view


@router.post("/notifications/{notification_id}/ack")
async def acknowledge(
    notification_id: str,
    request: Request,
    principal: Annotated[Principal, Depends(require_roles("operator", "utility_desk", "utility_soc"))],
) -> dict[str, Any]:
    """The recipient side acknowledges: the operator for its contacts, the utility roles for the desk."""
    store = _store(request)
    notification = handlers.load_notification(store, notification_id)
    if notification is None or notification.queued is None or not principal.may_see_operator(notification.queued.operator_id):
        raise not_found("notification", notification_id)
    if not _is_recipient_side(principal, notification.queued.recipient.kind, notification.queued.operator_id):
        raise Forbidden("only the receiving side may acknowledge this notification")
    context = context_of(principal, operator_id=notification.queued.operator_id)
    await handlers.acknowledge(store, notification, by=principal.sub, context=context)
    return {"id": notification_id, "status": notification.status, "acknowledged_by": notification.acknowledged_by}


def _is_recipient_side(principal: Principal, recipient_kind: str, operator_id: str | None) -> bool:
    if recipient_kind == "utility_desk":
        return principal.is_utility
    return principal.role == "operator" and principal.operator_id == operator_id

