"""HTTP routes of the audit service: entries, verification, checkpoints, proofs, dossiers, read model."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import PlainTextResponse

from services.audit.adapters.store import find_entry
from services.audit.application.queries import EntryFilter, dossier, list_entries
from services.audit.application.service import AuditService
from services.audit.domain.dossier_md import render
from shared.auth import Principal, require_roles
from shared.domain import not_found

router = APIRouter(prefix="/audit", tags=["audit"])
ops_router = APIRouter(tags=["operations"])

Reader = Annotated[Principal, Depends(require_roles("auditor", "utility_soc", "utility_desk", "operator"))]
Auditor = Annotated[Principal, Depends(require_roles("auditor", "utility_soc", "utility_desk"))]
Signer = Annotated[Principal, Depends(require_roles("auditor", "utility_soc"))]
Replayer = Annotated[Principal, Depends(require_roles("auditor", "utility_soc"))]


def _audit(request: Request) -> AuditService:
    return request.app.state.audit


@router.get("/entries")
async def entries(
    request: Request,
    principal: Reader,
    subject: str | None = None,
    operator_id: str | None = None,
    type: str | None = None,
    actor: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    start: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    """Entries in time order, filtered; operators see only their tenant's. Page with ``start``/``next``."""
    query = EntryFilter(subject, operator_id, type, actor, since, until)
    return list_entries(_audit(request).log.db, query, principal, limit=limit, start=start)


@router.get("/verify")
async def verify(request: Request, _: Auditor) -> dict[str, Any]:
    """Recompute every log from the stored entries and check every signed checkpoint."""
    return await _audit(request).verify()


@router.get("/checkpoints")
async def checkpoints(
    request: Request, _: Auditor, after: Annotated[int, Query(ge=0)] = 0, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> dict[str, Any]:
    """Signed tree heads in order."""
    audit = _audit(request)
    return {"items": audit.checkpoints.all(after=after, limit=limit), "public_key": audit.public_key}


@router.get("/checkpoints/latest")
async def latest_checkpoint(request: Request, _: Auditor) -> dict[str, Any]:
    """The newest signed tree head with the public key: keep both outside the system."""
    audit = _audit(request)
    return {"checkpoint": audit.checkpoint_at(None), "public_key": audit.public_key}


@router.post("/checkpoints", status_code=201)
async def sign_now(request: Request, _: Signer) -> dict[str, Any]:
    """Sign a tree head now (the latest is returned when nothing was logged since)."""
    audit = _audit(request)
    return {"checkpoint": audit.checkpoint(), "public_key": audit.public_key}


@router.get("/proofs/inclusion/{entry}")
async def inclusion(
    request: Request, entry: str, _: Auditor, checkpoint: Annotated[int | None, Query(ge=1)] = None
) -> dict[str, Any]:
    """Proof that one entry (``topic:partition:offset`` or event id) is in a checkpoint's log."""
    audit = _audit(request)
    row = find_entry(audit.log.db, entry)
    if row is None:
        raise not_found("entry", entry)
    return audit.inclusion(row, checkpoint)


@router.get("/proofs/consistency")
async def consistency(
    request: Request, _: Auditor, first: Annotated[int, Query(ge=1)], second: Annotated[int, Query(ge=1)]
) -> dict[str, Any]:
    """Proof that checkpoint ``second`` only appended to checkpoint ``first``."""
    return _audit(request).consistency(first, second)


@router.get("/dossiers/{incident_id}", response_model=None)
async def incident_dossier(
    request: Request, incident_id: str, principal: Reader, format: Literal["json", "md"] = "json"
) -> dict[str, Any] | PlainTextResponse:
    """The incident's whole story in order; ``?format=md`` for a readable document."""
    found = dossier(_audit(request).log.db, incident_id, principal)
    if format == "md":
        return PlainTextResponse(render(found), media_type="text/markdown; charset=utf-8")
    return found


@ops_router.get("/ops/read-model")
async def read_model(request: Request, _: Replayer) -> dict[str, Any]:
    """The live read model and the stream positions it reflects (``smguard replay`` compares it)."""
    return await _audit(request).read_model()


__all__ = ["ops_router", "router"]
