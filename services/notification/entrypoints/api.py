"""HTTP routes of the notification service: contacts, notifications, acknowledgements (translation only)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response

from shared.auth import Parties, Readers, Soc
from shared.events.contact import ContactKind
from shared.http import ExpectedVersion, IdempotencyKey, Offset, PathId, QueryId, context_of, service_of
from services.notification.application import handlers, queries
from services.notification.application.service import NotificationService
from services.notification.entrypoints.schemas import ContactPut

Status = Literal["queued", "delivered", "failed", "acknowledged", "escalated"]
Service = Annotated[NotificationService, Depends(service_of)]
router = APIRouter(tags=["notification"])


@router.put(
    "/operators/{operator_id}/contacts/{kind}",
    responses={201: {"description": "Registered (the first PUT); 200 once it existed", "model": dict[str, Any]}},
)
async def put_contact(
    operator_id: PathId,
    kind: ContactKind,
    body: ContactPut,
    response: Response,
    principal: Parties,
    service: Service,
    expected_version: ExpectedVersion,
    idempotency_key: IdempotencyKey,
) -> dict[str, Any]:
    """Register or change a contact: 201 when it was registered, 200 after; an identical PUT changes nothing."""
    done = await handlers.set_contact(
        service, body.command(operator_id, kind, by=principal), principal=principal,
        context=context_of(principal, operator_id=operator_id), expected_version=expected_version,
        idempotency_key=idempotency_key,
    )  # fmt: skip
    response.status_code = 201 if done.registered else 200
    return {"operator_id": operator_id, "kind": kind, **done.contact, "changed": done.changed, "version": done.version}


@router.get("/operators/{operator_id}/contacts")
async def get_contacts(operator_id: PathId, principal: Readers, service: Service) -> dict[str, Any]:
    """An operator's contacts (that operator, utility roles and auditors)."""
    return queries.contacts(service, operator_id, principal=principal)


@router.get("/operators/{operator_id}/contacts/{kind}/webhook-secret")
async def get_contact_webhook_secret(
    operator_id: str, kind: ContactKind, principal: Parties, service: Service, response: Response
) -> dict[str, Any]:
    """The secret that contact's webhook requests are signed with, and how to check them (that operator, the SOC)."""
    response.headers["Cache-Control"] = "no-store"
    return queries.contact_webhook_secret(service, operator_id, kind, principal=principal)


@router.get("/desk/webhook-secret")
async def get_desk_webhook_secret(principal: Soc, service: Service, response: Response) -> dict[str, Any]:
    """The secret the utility desk's webhook requests are signed with (the SOC)."""
    response.headers["Cache-Control"] = "no-store"
    return queries.desk_webhook_secret(service)


@router.get("/notifications")
async def list_notifications(
    principal: Readers,
    service: Service,
    status: Status | None = None,
    operator_id: QueryId = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Notifications to or from the caller's tenant (all of them for utility roles and auditors), newest first."""
    return queries.notifications(service, principal=principal, status=status, operator_id=operator_id, limit=limit, offset=offset)


@router.get("/notifications/{notification_id}")
async def get_notification(notification_id: PathId, principal: Readers, service: Service) -> dict[str, Any]:
    """One notification: recipient, route, channel, status, attempts, last error, the event it tells of."""
    return queries.notification(service, notification_id, principal=principal)


@router.get("/notifications/{notification_id}/members")
async def get_notification_members(
    notification_id: PathId,
    principal: Readers,
    service: Service,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Every connection and incident a coalesced notice tells of, in the order they joined, a page at a time."""
    return queries.members(service, notification_id, principal=principal, offset=offset, limit=limit)


@router.post("/notifications/{notification_id}/ack")
async def acknowledge(
    notification_id: PathId,
    principal: Readers,
    service: Service,
    expected_version: ExpectedVersion,
    idempotency_key: IdempotencyKey,
) -> dict[str, Any]:
    """The receiving side acknowledges: the operator for its contacts, the utility roles for the desk."""
    done = await handlers.acknowledge(
        service, notification_id, principal=principal, context=context_of(principal),
        expected_version=expected_version, idempotency_key=idempotency_key,
    )  # fmt: skip
    return {"id": notification_id, "status": "acknowledged", "acknowledged_by": done.acknowledged_by, "version": done.version}
