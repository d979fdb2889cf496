"""HTTP routes of connections: register, read, rotate secrets, block, approve reconnection."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from services.connection.application.handlers import ConnectionHandlers
from services.connection.application.ports import PlainSecrets
from services.connection.application.reactions import IncidentReactions
from services.connection.entrypoints.present import connection_public
from services.connection.entrypoints.schemas import (
    ApprovalCreate,
    BlockCreate,
    ConnectionCreate,
    ConnectionPublic,
    ConnectionsPublic,
    Created,
    SecretsCreate,
)
from services.connection.projections.directory import ConnectionView
from shared.auth import Principal, require_roles
from shared.domain import Conflict, Invalid
from shared.events.values import Actor
from shared.http import IdempotencyKey, context_of
from shared.domain import not_found

router = APIRouter(tags=["connections"])
Readers = Annotated[Principal, Depends(require_roles("utility_soc", "utility_desk", "auditor", "operator"))]
Parties = Annotated[Principal, Depends(require_roles("utility_soc", "operator"))]
Soc = Annotated[Principal, Depends(require_roles("utility_soc"))]


def handlers_of(request: Request) -> ConnectionHandlers:
    """The service's command handlers."""
    return request.app.state.connection_handlers


def reactions_of(request: Request) -> IncidentReactions:
    """The service's incident reactions (what it knows of incidents)."""
    return request.app.state.connection_reactions


Handlers = Annotated[ConnectionHandlers, Depends(handlers_of)]
Reactions = Annotated[IncidentReactions, Depends(reactions_of)]


def actor_of(principal: Principal) -> Actor:
    """The person behind a request."""
    return Actor(kind="person", id=principal.sub, role=principal.role)


def visible(handlers: ConnectionHandlers, principal: Principal, connection_id: str) -> ConnectionView:
    """A connection the caller may see, else 404 (another tenant's looks the same as none)."""
    view = handlers.directory.get(connection_id)
    if view is None or not principal.may_see_operator(view.connection.operator_id):
        raise not_found("connection", connection_id)
    return view


def plain(secrets: SecretsCreate) -> PlainSecrets:
    """Unwrap the write-only secrets for sealing."""
    return PlainSecrets(
        auth_id=secrets.auth_id.get_secret_value(),
        password=secrets.password.get_secret_value(),
        pairing_id=secrets.pairing_id.get_secret_value(),
    )


@router.post("/connections", status_code=201, response_model=Created)
async def register_connection(
    body: ConnectionCreate, principal: Parties, handlers: Handlers, key: IdempotencyKey
) -> Created:
    """Register operator equipment (an operator for itself, the SOC naming ``operator_id``)."""
    if principal.role == "operator":
        if body.operator_id not in (None, principal.operator_id):
            raise HTTPException(403, "an operator registers connections for itself only")
        operator_id = principal.operator_id
    elif body.operator_id is None:
        raise Invalid("operator_id is required when the utility registers a connection")
    else:
        operator_id = body.operator_id
    assert operator_id is not None
    connection_id = await handlers.register_connection(
        operator_id=operator_id,
        kind=body.kind,
        maker=body.maker,
        model=body.model,
        firmware=body.firmware,
        smart_meter_ids=list(body.smart_meter_ids),
        secrets=plain(body.secrets),
        context=context_of(principal, operator_id=operator_id),
        idempotency_key=key,
    )
    return Created(id=connection_id, version=handlers.store.version(connection_id))


@router.get("/connections", response_model=ConnectionsPublic)
async def list_connections(
    principal: Readers,
    handlers: Handlers,
    status: Literal["active", "blocked", "awaiting_approval"] | None = None,
    operator_id: str | None = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> ConnectionsPublic:
    """Connections the caller may see, filtered, one bounded page at a time."""
    if principal.role == "operator":
        if operator_id not in (None, principal.operator_id):
            return ConnectionsPublic(items=[], total=0, offset=offset, limit=limit, next_offset=None)
        operator_id = principal.operator_id
    views = [v for v in handlers.directory.of_operator(operator_id) if status is None or v.connection.status == status]
    page = views[offset : offset + limit]
    more = offset + limit < len(views)
    return ConnectionsPublic(
        items=[connection_public(v) for v in page],
        total=len(views),
        offset=offset,
        limit=limit,
        next_offset=offset + limit if more else None,
    )


@router.get("/connections/{connection_id}", response_model=ConnectionPublic)
async def get_connection(connection_id: str, principal: Readers, handlers: Handlers) -> ConnectionPublic:
    """One connection: status, blocking incidents, approvals, enforcement, masked secret hints."""
    return connection_public(visible(handlers, principal, connection_id))


@router.post("/connections/{connection_id}/secrets", response_model=ConnectionPublic)
async def rotate_secrets(
    connection_id: str, body: SecretsCreate, principal: Parties, handlers: Handlers
) -> ConnectionPublic:
    """Rotate the connection's secrets (its operator or the SOC)."""
    view = visible(handlers, principal, connection_id)
    context = context_of(principal, operator_id=view.connection.operator_id)
    await handlers.rotate_secrets(connection_id, plain(body), context=context)
    return connection_public(visible(handlers, principal, connection_id))


@router.post("/connections/{connection_id}/block", status_code=201)
async def block_connection(
    connection_id: str, body: BlockCreate, principal: Soc, handlers: Handlers, reactions: Reactions,
    key: IdempotencyKey,
) -> dict[str, Any]:
    """The SOC blocks a connection for an incident (several incidents may block one connection)."""
    view = visible(handlers, principal, connection_id)
    incident = reactions.incidents.get(body.incident_id)
    if incident is None:
        raise Invalid(f"incident {body.incident_id} is not known to this service (yet)")
    if incident.status == "cleared":
        raise Conflict(f"incident {body.incident_id} is already cleared: it cannot block")
    request_id = await handlers.block(
        connection_id,
        reason=body.reason,
        incident_id=body.incident_id,
        note=body.note,
        decided_by=actor_of(principal),
        context=context_of(principal, operator_id=view.connection.operator_id),
        idempotency_key=key,
    )
    after = visible(handlers, principal, connection_id)
    return {"id": connection_id, "status": after.connection.status, "request_id": request_id}


@router.post("/connections/{connection_id}/approvals", status_code=201)
async def approve_reconnection(
    connection_id: str, body: ApprovalCreate, principal: Parties, handlers: Handlers, key: IdempotencyKey
) -> dict[str, Any]:
    """Approve reconnection for the caller's side; the second side's approval reconnects."""
    view = visible(handlers, principal, connection_id)
    party = "utility" if principal.role == "utility_soc" else "operator"
    reconnected = await handlers.approve(
        connection_id,
        party=party,
        decided_by=actor_of(principal),
        note=body.note,
        context=context_of(principal, operator_id=view.connection.operator_id),
        idempotency_key=key,
    )
    after = visible(handlers, principal, connection_id)
    return {"id": connection_id, "party": party, "reconnected": reconnected, "status": after.connection.status}


async def redacted_validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    """422 that says where and why, never echoing the input (it may hold a password)."""
    errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in exc.errors()]
    return JSONResponse({"detail": errors, "code": "invalid"}, status_code=422)
