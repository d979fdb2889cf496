"""The HTTP edge every service shares: errors, correlation ids, health, readiness, metrics."""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Any, Mapping

import httpx
from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared import tracing
from shared.auth import CurrentPrincipal, Replayers
from shared.domain import DomainError, NotFound
from shared.principal import Principal
from shared.eventstore import ConcurrencyError, Context, NotOwner, StoreUnavailable, WriterFenced
from shared.logs import correlation_id, traceparent
from shared.metrics import exposition
from shared.schemas import clock_skew

REQUESTS = Counter("smguard_http_requests_total", "HTTP requests", ["service", "method", "route", "status"])
LATENCY = Histogram("smguard_http_request_seconds", "HTTP request latency", ["service", "method", "route"])
_STATUS = {"conflict": 409, "invalid": 422, "not_found": 404, "forbidden": 403}
_HTTP_CODES = {
    400: "invalid_input", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    409: "conflict", 413: "payload_too_large", 422: "invalid_input",
}  # fmt: skip


class FieldError(BaseModel):
    """Where a request is invalid and why (never the value: it could be a password)."""

    loc: list[str | int]
    msg: str
    type: str


class ErrorPublic(BaseModel):
    """Every error answer: what went wrong, and a code a program can branch on."""

    detail: str | list[FieldError]
    code: str | None = None
    current_version: int | None = None


ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorPublic, "description": description}
    for status, description in [
        (400, "The request cannot be read"), (401, "No valid token"), (403, "The role may not"),
        (404, "Not found, or another tenant's"), (409, "A state conflict, or the version moved on"),
        (413, "The body is larger than the service reads"), (422, "Invalid input"),
        (503, "Not ready, or the partition is being rebalanced: retry"),
    ]
}  # fmt: skip
"""The error answers every route may give, for its OpenAPI document."""


def install(app: FastAPI, *, service: str, bodies: Mapping[str, int] | None = None) -> None:
    """Add the shared middleware, error handlers and operations routes to a service's app.

    ``bodies``: the routes (exact paths) that may read a larger body than ``SMGUARD_MAX_BODY_BYTES``, and
    their own bound (e.g. a bulk upload).
    """
    settings = getattr(app.state, "settings", None)
    app.add_middleware(
        BoundedBody, max_bytes=settings.max_body_bytes if settings else 1024 * 1024,
        skew=settings.clock_skew_seconds if settings else 300.0, routes=dict(bodies or {}),
    )  # fmt: skip

    @app.middleware("http")
    async def correlate(request: Request, call_next: Any) -> Response:
        value = request.headers.get("x-correlation-id") or str(uuid.uuid4())
        token = correlation_id.set(value)
        trace = traceparent.set(request.headers.get("traceparent"))
        started = time.perf_counter()
        try:
            response = await call_next(request)
        finally:
            correlation_id.reset(token)
            traceparent.reset(trace)
        route = getattr(request.scope.get("route"), "path", "unmatched")
        REQUESTS.labels(service, request.method, route, response.status_code).inc()
        LATENCY.labels(service, request.method, route).observe(time.perf_counter() - started)
        response.headers["X-Correlation-ID"] = value
        return response

    @app.exception_handler(BodyTooLarge)
    async def body_too_large(_: Request, exc: BodyTooLarge) -> JSONResponse:
        return too_large(exc)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        # The project's shape for every error, FastAPI's own (an unreadable body: 400) included.
        body = {"detail": exc.detail, "code": _HTTP_CODES.get(exc.status_code, "error")}
        return JSONResponse(body, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(DomainError)
    async def domain_error(_: Request, exc: DomainError) -> JSONResponse:
        return JSONResponse({"detail": exc.message, "code": exc.code}, status_code=_STATUS.get(exc.code, 422))

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's default echoes each bad input value; that could be a password. Say where and why only.
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in exc.errors()]
        return JSONResponse({"detail": errors, "code": "invalid_input"}, status_code=422)

    @app.exception_handler(ConcurrencyError)
    async def concurrency_error(_: Request, exc: ConcurrencyError) -> JSONResponse:
        body = {"detail": str(exc), "code": "version_conflict", "current_version": exc.actual}
        return JSONResponse(body, status_code=409)

    @app.exception_handler(StoreUnavailable)
    @app.exception_handler(WriterFenced)
    async def unavailable(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "code": "unavailable"}, status_code=503, headers={"Retry-After": "2"})

    @app.exception_handler(NotOwner)
    async def not_owner(request: Request, exc: NotOwner) -> Response:
        if exc.owner is None or request.headers.get(FORWARDED_BY):
            return JSONResponse({"detail": str(exc), "code": "rebalancing"}, status_code=503, headers={"Retry-After": "1"})
        return await forward(request, exc.owner)

    app.include_router(operations_router(service))


class BodyTooLarge(HTTPException):
    """The request body is larger than the route may read (an HTTPException, so the body parser lets it out)."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"the request body is larger than {max_bytes} bytes")


def too_large(exc: BodyTooLarge) -> JSONResponse:
    """The project's error shape for a 413; the connection closes (the rest of the body is not read)."""
    body = {"detail": exc.detail, "code": "payload_too_large"}
    return JSONResponse(body, status_code=413, headers={"Connection": "close"})


class BoundedBody:
    """Pure ASGI middleware: a body over ``max_bytes`` is a 413 before anything parses it.

    A declared ``Content-Length`` over the cap is refused before a byte is read; a body that streams
    (chunked) is counted as it arrives and refused once it passes the cap, so nothing ever holds more
    than the cap in memory. ``routes`` gives some paths (exact) a cap of their own. It also tells the
    request schemas the clock skew they allow.
    """

    def __init__(self, app: Any, *, max_bytes: int, skew: float, routes: Mapping[str, int] | None = None) -> None:
        self.app, self.max_bytes, self.skew, self.routes = app, max_bytes, skew, dict(routes or {})

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = clock_skew.set(self.skew)
        cap = self.routes.get(scope.get("path", ""), self.max_bytes)
        try:
            declared = dict(scope.get("headers") or ()).get(b"content-length")
            if declared is not None and not declared.isdigit():
                body = {"detail": "Content-Length must be a number of bytes", "code": "invalid_input"}
                await JSONResponse(body, status_code=400)(scope, receive, send)
                return
            if declared is not None and int(declared) > cap:
                await self._refuse(scope, receive, send, cap)
                return
            await self._bounded(scope, receive, send, cap)
        finally:
            clock_skew.reset(token)

    async def _bounded(self, scope: dict[str, Any], receive: Any, send: Any, cap: int) -> None:
        seen, started = 0, False

        async def counting() -> dict[str, Any]:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > cap:
                    raise BodyTooLarge(cap)
            return message

        async def sending(message: dict[str, Any]) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting, sending)
        except BodyTooLarge as exc:  # read outside a route (its handler answers inside one)
            if started:  # too late to answer: drop the connection rather than send half an answer
                raise
            await too_large(exc)(scope, receive, send)

    async def _refuse(self, scope: dict[str, Any], receive: Any, send: Any, cap: int) -> None:
        await too_large(BodyTooLarge(cap))(scope, receive, send)


FORWARDED_BY = "X-Smguard-Forwarded-By"
FORWARD_TIMEOUT = 30.0
FORWARD_BYTES_PER_SECOND = 100_000
"""How long the owner may take to answer a forwarded request: 30 s, and a second more per 100 kB of body (a bulk
registration of 10,000 rows, some 3 MB, may take a minute on a busy machine)."""
_HOP_BY_HOP = {"host", "content-length", "connection", "keep-alive", "transfer-encoding", "te", "upgrade"}


async def forward(request: Request, owner: str) -> Response:
    """Send the request on to the instance that owns its aggregate and answer with its answer.

    Once only: a forwarded request that meets another NotOwner (a rebalance under way) is a 503.
    """
    client: httpx.AsyncClient | None = getattr(request.app.state, "forwarder", None)
    if client is None:
        client = request.app.state.forwarder = httpx.AsyncClient(timeout=FORWARD_TIMEOUT)
    headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
    headers[FORWARDED_BY] = f"{request.app.state.runtime.service}/{request.app.state.settings.instance}"
    if tracing.ENABLED and (current := tracing.current_traceparent()):  # the owner's span: a child of this one
        headers["traceparent"] = current
    body = await request.body()
    try:
        answer = await client.request(
            request.method, f"{owner}{request.url.path}", params=request.query_params, headers=headers,
            content=body, timeout=FORWARD_TIMEOUT + len(body) / FORWARD_BYTES_PER_SECOND,
        )  # fmt: skip
    except httpx.HTTPError as exc:
        body = {"detail": f"the owner {owner} did not answer: {type(exc).__name__}", "code": "rebalancing"}
        return JSONResponse(body, status_code=503, headers={"Retry-After": "1"})
    kept = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP_BY_HOP | {"content-encoding"}}
    return Response(answer.content, status_code=answer.status_code, headers=kept)


def operations_router(service: str) -> APIRouter:
    """``/healthz``, ``/readyz``, ``/metrics``, ``/ops/parked`` and ``/ops/read-model``."""
    router = APIRouter(tags=["operations"], responses=ERRORS)

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok", "service": service}

    @router.get("/readyz", responses={503: {"description": "Not ready: what is not", "model": dict[str, Any]}})
    async def readyz(request: Request) -> JSONResponse:
        """Broker reachable, event store loaded, own projections caught up."""
        runtime = getattr(request.app.state, "runtime", None)
        ok, detail = await runtime.readiness() if runtime else (False, {"runtime": "not started"})
        return JSONResponse({"ready": ok, "service": service, **detail}, status_code=200 if ok else 503)

    @router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
    async def metrics(request: Request) -> Response:
        """Prometheus metrics: the counters of the process, and what its runtime reads now (lag, readiness, …)."""
        runtime = getattr(request.app.state, "runtime", None)
        readings = await runtime.readings() if runtime is not None else {}
        return Response(exposition(readings), media_type=CONTENT_TYPE_LATEST)

    @router.get("/ops/parked")
    async def parked(request: Request, _: Replayers) -> dict[str, Any]:
        """Events parked because they could not be applied, and dead-lettered record counts."""
        runtime = request.app.state.runtime
        return runtime.parked_report()

    @router.get("/ops/read-model")
    async def read_model(request: Request, _: Replayers) -> dict[str, Any]:
        """The live read models and the stream positions they reflect, taken together (``smguard replay`` compares)."""
        runtime = request.app.state.runtime
        if runtime.read_model is None:
            raise NotFound(f"the {service} service shows no read model")
        return await runtime.read_model.take()

    return router


def context_of(principal: Principal, *, operator_id: str | None = None) -> Context:
    """The event-store context of a request: who, for which tenant, under which correlation id."""
    return Context(
        actor=principal.sub,
        operator_id=operator_id if operator_id is not None else principal.operator_id,
        correlation_id=correlation_id.get(),
        traceparent=tracing.current_traceparent() or traceparent.get(),  # this request's span, when tracing is on
    )


async def idempotency_key(
    request: Request,
    principal: CurrentPrincipal,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> str | None:
    """The ``Idempotency-Key`` header, scoped to the caller and the route (a retry gets the first answer)."""
    if not idempotency_key:
        return None
    return f"{principal.sub}|{request.method} {request.url.path}|{idempotency_key}"


async def expected_version(if_match: Annotated[str | None, Header()] = None) -> int | None:
    """The ``If-Match`` header as the aggregate version the caller last saw (409 when it moved on)."""
    if if_match is None:
        return None
    try:
        return int(if_match.strip().strip('"').removeprefix("W/").strip('"'))
    except ValueError:
        raise HTTPException(422, "If-Match must be the aggregate version, e.g. If-Match: 3") from None


IdempotencyKey = Annotated[str | None, Depends(idempotency_key)]
MAX_ID = 200
PathId = Annotated[str, Path(min_length=1, max_length=MAX_ID)]
"""An id in a route's path (an aggregate, an operator, a notification): at most 200 characters."""
QueryId = Annotated[str | None, Query(min_length=1, max_length=MAX_ID)]
"""An id a list is filtered by."""
MAX_POSITION = 1_000_000_000
Offset = Annotated[int, Query(ge=0, le=MAX_POSITION)]
"""Where a page starts (bounded: a database takes no larger integer)."""
ExpectedVersion = Annotated[int | None, Depends(expected_version)]


async def service_of(request: Request) -> Any:
    """The service object its bootstrap built (``app.state.service``), for routes to depend on."""
    return request.app.state.service
