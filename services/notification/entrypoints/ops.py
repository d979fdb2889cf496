"""Routes for the people who run the system: the live read model, for ``smguard replay`` to compare."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from shared.auth import Principal, require_roles
from services.notification.projections.readmodel import live_read_model

ops_router = APIRouter(tags=["ops"])
Replayer = Annotated[Principal, Depends(require_roles("utility_soc", "auditor"))]


@ops_router.get("/ops/read-model")
async def read_model(request: Request, _: Replayer) -> dict[str, Any]:
    """The live views' snapshot and the stream positions they have applied, taken together."""
    return live_read_model(request.app.state.settings, request.app.state.notification_views)
