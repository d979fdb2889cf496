"""HTTP routes of connections: register (one, or many at once), read, rotate secrets, block, approve reconnection."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from services.connection.application import handlers, queries, registrations
from services.connection.application.ports import PlainSecrets
from services.connection.application.registrations import Registration
from services.connection.application.service import ConnectionService
from services.connection.domain.commands import BlockConnection, RegisterConnection
from services.connection.domain.matching import VulnerabilityCriteria
from services.connection.entrypoints import bulk
from services.connection.entrypoints.schemas import (
    ApprovalCreate,
    BlockCreate,
    BulkPublic,
    BulkRowPublic,
    ConnectionCreate,
    ConnectionPublic,
    ConnectionsPublic,
    Created,
    SecretsCreate,
    VulnerabilityReachPublic,
)
from shared.auth import Parties, Readers, Soc
from shared.domain import Forbidden
from shared.events.connection import ConnectionBlocked, ConnectionReconnected
from shared.events.values import AssetKind
from shared.firmware import Firmware
from shared.http import ErrorPublic, ExpectedVersion, IdempotencyKey, Offset, PathId, QueryId, context_of, service_of

router = APIRouter(tags=["connections"])
Service = Annotated[ConnectionService, Depends(service_of)]


def plain(secrets: SecretsCreate) -> PlainSecrets:
    """Unwrap the write-only secrets for sealing."""
    return PlainSecrets(
        auth_id=secrets.auth_id.get_secret_value(),
        password=secrets.password.get_secret_value(),
        pairing_id=secrets.pairing_id.get_secret_value(),
    )


def command_of(body: ConnectionCreate) -> RegisterConnection:
    """The registration a body asks for (its secrets apart)."""
    return RegisterConnection(
        kind=body.kind, maker=body.maker, model=body.model, firmware=body.firmware,
        smart_meter_ids=tuple(body.smart_meter_ids), operator_id=body.operator_id,
    )  # fmt: skip


@router.post("/connections", status_code=201, response_model=Created)
async def register_connection(body: ConnectionCreate, principal: Parties, service: Service, key: IdempotencyKey) -> Created:
    """Register operator equipment (an operator for itself, the SOC naming ``operator_id``)."""
    saved = await handlers.register_connection(
        service, command_of(body), plain(body.secrets), by=principal, context=context_of(principal), key=key
    )
    await queries.settled(service, saved)
    return Created(id=saved.aggregate_id, version=saved.version)


BULK_PATH = "/connections/bulk"
_BULK_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/ConnectionCreate"}}},
        "text/csv": {
            "schema": {"type": "string"},
            "example": "kind,maker,model,firmware,smart_meter_ids,auth_id,password,pairing_id\n"
                       "special_meter,M,SPM-100,2.1.0,SM-1;SM-2,A-1,…,P-1\n",
        },
    },
}  # fmt: skip


@router.post(
    BULK_PATH, response_model=BulkPublic, openapi_extra={"requestBody": _BULK_BODY},
    responses={207: {"model": BulkPublic, "description": "Some rows were refused (each says why); the others registered"},
               415: {"model": ErrorPublic, "description": "Neither JSON nor CSV"}},
)  # fmt: skip
async def register_connections(request: Request, principal: Parties, service: Service, key: IdempotencyKey) -> JSONResponse:
    """Register many connections at once: a JSON array of what ``POST /connections`` takes, or CSV with a header row
    (``kind, maker, model, firmware, smart_meter_ids`` (``;``-separated), ``auth_id, password, pairing_id`` and, for
    the SOC, ``operator_id``). Each row is registered or refused on its own, never half; 200 when every row was
    registered, 207 when some were refused. At most ``SMGUARD_MAX_BULK_ROWS`` rows (413)."""
    body, media, bound = await request.body(), request.headers.get("content-type"), request.app.state.max_bulk_rows
    try:  # thousands of rows take a while to read: in a thread, so the loop (heartbeats, commits) goes on meanwhile
        rows = await asyncio.to_thread(bulk.rows_of, media, body, max_rows=bound)
    except bulk.BulkRefused as exc:
        return JSONResponse({"detail": exc.detail, "code": exc.code}, status_code=exc.status)
    foreign = [r.row for r in rows if principal.role == "operator" and r.operator_id not in (None, principal.operator_id)]
    if foreign:
        shown = ", ".join(map(str, foreign[:20])) + (" …" if len(foreign) > 20 else "")
        raise Forbidden(f"an operator registers for itself only: leave operator_id out or give your own (rows {shown})")
    valid = [Registration(r.row, command_of(r.body), plain(r.body.secrets)) for r in rows if r.body is not None]
    outcomes = await registrations.register_connections(
        service, valid, by=principal, context=context_of(principal), key=key
    )
    await queries.settled_registrations(service, [o.id for o in outcomes if o.id and not o.replayed])
    answered = {o.row: BulkRowPublic(row=o.row, id=o.id, version=o.version) if o.id else
                BulkRowPublic(row=o.row, errors=[{"loc": [], "msg": o.error, "type": o.code}]) for o in outcomes}  # fmt: skip
    answered |= {r.row: BulkRowPublic(row=r.row, errors=r.errors) for r in rows if r.body is None}
    ordered = [answered[n] for n in sorted(answered)]
    refused = sum(1 for a in ordered if a.errors)
    answer = BulkPublic(registered=len(ordered) - refused, refused=refused, rows=ordered)
    return JSONResponse(answer.model_dump(mode="json", exclude_none=True), status_code=207 if refused else 200)


@router.get("/connections", response_model=ConnectionsPublic)
async def list_connections(
    principal: Readers,
    service: Service,
    status: Literal["active", "blocked", "awaiting_approval"] | None = None,
    operator_id: QueryId = None,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    """Connections the caller may see, filtered, one bounded page at a time."""
    return queries.connection_page(service, principal, status=status, operator_id=operator_id, offset=offset, limit=limit)


Criterion = Annotated[str | None, Query(min_length=1, max_length=200)]
MAX_PREVIEW_METERS = 500
"""Smart meters a preview names in its query string (a declaration itself may name more)."""


@router.get("/connections/matching", response_model=VulnerabilityReachPublic)
async def vulnerability_reach(
    _: Soc,
    service: Service,
    asset_kind: AssetKind,
    maker: Criterion = None,
    model: Criterion = None,
    firmware: Criterion = None,
    smart_meter_ids: Annotated[list[str], Query(max_length=MAX_PREVIEW_METERS)] = [],  # noqa: B006 - FastAPI's query list
) -> dict[str, Any]:
    """How many connections of how many operators a vulnerability with these criteria (as ``POST /vulnerabilities``
    takes them) would concern now, per operator, by the same rule that blocks them when it is declared; and the
    ``serious_vulnerability`` policy that would decide. Read-only, for the SOC's confirmation before declaring."""
    criteria = VulnerabilityCriteria(asset_kind, maker, model, Firmware(firmware))  # an unreadable range: 422
    return queries.vulnerability_reach(service, criteria, smart_meter_ids)


@router.get("/connections/{connection_id}", response_model=ConnectionPublic)
async def get_connection(connection_id: PathId, principal: Readers, service: Service) -> dict[str, Any]:
    """One connection: status, blocking incidents, approvals, enforcement, masked secret hints."""
    return queries.connection(service, principal, connection_id)


@router.post("/connections/{connection_id}/secrets", response_model=ConnectionPublic)
async def rotate_secrets(
    connection_id: PathId, body: SecretsCreate, principal: Parties, service: Service, if_match: ExpectedVersion
) -> dict[str, Any]:
    """Rotate the connection's secrets (its operator or the SOC); ends a compromise."""
    saved = await handlers.rotate_secrets(
        service, connection_id, plain(body), by=principal, context=context_of(principal), expected_version=if_match
    )
    await queries.settled(service, saved)
    return queries.connection(service, principal, connection_id)


@router.post("/connections/{connection_id}/block", status_code=201)
async def block_connection(
    connection_id: PathId, body: BlockCreate, principal: Soc, service: Service, key: IdempotencyKey,
    if_match: ExpectedVersion,
) -> dict[str, Any]:
    """The SOC blocks a connection for an open incident (several incidents may block one connection)."""
    cmd = BlockConnection(reason=body.reason, incident_id=body.incident_id, note=body.note)
    saved = await handlers.block_connection(
        service, connection_id, cmd, by=principal, context=context_of(principal), expected_version=if_match, key=key
    )
    await queries.settled(service, saved)
    blocked = saved.first(ConnectionBlocked)
    status = queries.connection(service, principal, connection_id)["status"]
    request_id = blocked.request_id if blocked else None
    return {"id": connection_id, "status": status, "request_id": request_id, "version": saved.version}


@router.post("/connections/{connection_id}/approvals", status_code=201)
async def approve_reconnection(
    connection_id: PathId, body: ApprovalCreate, principal: Parties, service: Service, key: IdempotencyKey,
    if_match: ExpectedVersion,
) -> dict[str, Any]:
    """Approve reconnection for the caller's side; the second side's approval reconnects."""
    saved = await handlers.approve_reconnection(
        service, connection_id, note=body.note, by=principal, context=context_of(principal),
        expected_version=if_match, key=key,
    )  # fmt: skip
    await queries.settled(service, saved)
    status = queries.connection(service, principal, connection_id)["status"]
    reconnected = saved.first(ConnectionReconnected) is not None
    return {
        "id": connection_id, "party": principal.party, "reconnected": reconnected, "status": status,
        "version": saved.version,
    }  # fmt: skip
