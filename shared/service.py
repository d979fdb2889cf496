"""Building a service's FastAPI app around its runtime: one composition for all four services."""

from __future__ import annotations

from typing import Any, Mapping

from fastapi import APIRouter, FastAPI

from shared.http import ERRORS, install
from shared.runtime import Runtime


def create_app(
    runtime: Runtime, service: Any, *, title: str, description: str, routers: list[APIRouter],
    bodies: Mapping[str, int] | None = None,
) -> FastAPI:
    """The service's app: its routes (which reach ``service`` through ``shared.http.service_of``), plus
    health, readiness, metrics, the operations views and the shared error mapping. ``bodies``: routes whose
    body may be larger than ``SMGUARD_MAX_BODY_BYTES``, with their own bound (``shared.http.install``)."""
    app = FastAPI(title=title, description=description, version="0.1.0", lifespan=runtime.lifespan())
    app.state.runtime, app.state.service = runtime, service
    app.state.settings = runtime.settings
    if runtime.store is not None:  # the record limit is a setting; the store's layout predates it
        runtime.store.max_record_bytes = runtime.settings.max_event_bytes
    install(app, service=runtime.service, bodies=bodies)
    for router in routers:
        app.include_router(router, responses=ERRORS)
    return app
