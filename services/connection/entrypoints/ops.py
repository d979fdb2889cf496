"""Routes for the people who run the system: the live read model, for ``smguard replay`` to compare."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from services.connection.projections.readmodel import positions, snapshot
from shared.auth import Principal, require_roles
from shared.eventstore import StoreUnavailable
from shared.eventstore.kafka import KafkaEventStore

router = APIRouter(tags=["ops"])
Replayer = Annotated[Principal, Depends(require_roles("utility_soc", "auditor"))]
SETTLE_ATTEMPTS = 50


@router.get("/ops/read-model")
async def read_model(request: Request, _: Replayer) -> dict[str, Any]:
    """The live read models and the stream positions they reflect, taken together at a quiet moment.

    A quiet moment: no incident event is being reacted to, no staged reaction is committing and no
    append is under way, so the directory holds exactly the committed events up to the positions.
    """
    state = request.app.state
    handlers, reactions, sink = state.connection_handlers, state.connection_reactions, state.incident_sink
    store: KafkaEventStore = handlers.store
    for _attempt in range(SETTLE_ATTEMPTS):
        await reactions.idle()
        if not store.in_flight:  # nothing awaited since idle(): nothing is applied between here and the answer
            return {
                "positions": positions(request.app.state.settings, store.positions(), sink.resume_positions()),
                "read_models": snapshot(handlers.directory, store.load, reactions.incidents),
            }
        await store.quiet()
    raise StoreUnavailable("appends keep arriving: no quiet moment to take the read model at; try again")
