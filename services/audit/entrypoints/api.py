"""HTTP routes of the audit service: entries, verification, checkpoints, proofs and dossiers.

``/ops/read-model`` is the shared operations route (``shared.http``); the bootstrap exposes the log to it.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime
from fastapi.responses import PlainTextResponse, StreamingResponse

from services.audit.application.service import AuditService
from services.audit.domain.dossier_md import render
from services.audit.domain.entries import EntryFilter
from shared.auth import Readers, SocOrAuditor, UtilityReaders
from shared.http import MAX_POSITION, Offset, PathId, QueryId, service_of

router = APIRouter(prefix="/audit", tags=["audit"])
Audit = Annotated[AuditService, Depends(service_of)]


@router.get("/entries")
async def entries(
    audit: Audit,
    principal: Readers,
    subject: QueryId = None,
    operator_id: QueryId = None,
    type: QueryId = None,
    actor: QueryId = None,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    start: Offset = 0,
) -> dict[str, Any]:
    """Entries in time order, filtered; operators see only their tenant's. Page with ``start``/``next``."""
    query = EntryFilter(subject, operator_id, type, actor, since, until)
    return audit.entries(query, principal, limit=limit, start=start)


@router.get(
    "/verify",
    response_model=None,
    responses={200: {
        "description": "The report; with ``progress=true`` NDJSON progress lines, then the report",
        "content": {"application/json": {}, "application/x-ndjson": {"schema": {"type": "string"}}},
    }},
)  # fmt: skip
async def verify(audit: Audit, _: UtilityReaders, progress: bool = False) -> dict[str, Any] | StreamingResponse:
    """Recompute every log from the stored entries and check every signed checkpoint. With ``progress=true``:
    NDJSON lines ``{"done", "total"}`` as it goes, then ``{"report": …}``."""
    if not progress:
        return await audit.verify()
    lines = (json.dumps(line) + "\n" async for line in audit.verify_with_progress())
    return StreamingResponse(lines, media_type="application/x-ndjson")


@router.get("/checkpoints")
async def checkpoints(
    audit: Audit, _: UtilityReaders, after: Offset = 0, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> dict[str, Any]:
    """Signed tree heads in order."""
    return audit.checkpoint_page(after=after, limit=limit)


@router.get("/checkpoints/latest")
async def latest_checkpoint(audit: Audit, _: UtilityReaders) -> dict[str, Any]:
    """The newest signed tree head with the public key: keep both outside the system."""
    return {"checkpoint": audit.checkpoint_at(None), "public_key": audit.public_key}


@router.post("/checkpoints", status_code=201)
async def sign_now(audit: Audit, _: SocOrAuditor) -> dict[str, Any]:
    """Sign a tree head now (auditor, utility_soc); the latest is returned when nothing was logged since."""
    return {"checkpoint": audit.checkpoint(), "public_key": audit.public_key}


@router.get("/proofs/inclusion/{entry}")
async def inclusion(
    audit: Audit, entry: PathId, _: UtilityReaders, checkpoint: Annotated[int | None, Query(ge=1, le=MAX_POSITION)] = None
) -> dict[str, Any]:
    """Proof that one entry (``topic:partition:offset`` or event id) is in a checkpoint's log."""
    return audit.inclusion(entry, checkpoint)


@router.get("/proofs/consistency")
async def consistency(
    audit: Audit, _: UtilityReaders, first: Annotated[int, Query(ge=1, le=MAX_POSITION)],
    second: Annotated[int, Query(ge=1, le=MAX_POSITION)],
) -> dict[str, Any]:
    """Proof that checkpoint ``second`` only appended to checkpoint ``first``."""
    return audit.consistency(first, second)


@router.get("/dossiers/{incident_id}", response_model=None)
async def incident_dossier(
    audit: Audit, incident_id: PathId, principal: Readers, format: Literal["json", "md"] = "json"
) -> dict[str, Any] | PlainTextResponse:
    """The incident's whole story in order; ``?format=md`` for a readable document."""
    found = audit.dossier(incident_id, principal)
    if format == "md":
        return PlainTextResponse(render(found), media_type="text/markdown; charset=utf-8")
    return found
