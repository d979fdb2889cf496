"""OpenTelemetry traces: on when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (exported over OTLP/HTTP), off otherwise.

Off, every helper here returns at its first line (``ENABLED`` is False) and the SDK is never imported:
the hot path pays one check. On, spans go through a batch processor to the OTLP endpoint, and the W3C
``traceparent`` of the span that wrote an event travels in its envelope (and the record's headers), so
the service that consumes it continues the same trace. ``docs/tracing.md`` lists the spans.

Attributes are ids and names only — never a request body, a secret or a user's free text — and bounded
(``shared.tracing_sdk``: 32 attributes of at most 256 characters, 32 links a span).
"""

from __future__ import annotations

import asyncio
import os
from collections import OrderedDict
from contextlib import contextmanager
from typing import Any, Iterator, Mapping, Sequence
from urllib.parse import urlsplit

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, NonRecordingSpan, Span, SpanKind, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

ENABLED = False
"""Whether spans are made (``setup`` found an endpoint); read on every hot path, so a plain global."""
MAX_LINKS = 32
"""Links of a span that stands for a batch (one per record's trace, at most this many)."""
LATEST_TRACES = 10_000
"""Aggregates whose latest append's trace this process remembers (for work that follows a commit)."""
_PROPAGATOR = TraceContextTextMapPropagator()
_tracer: trace.Tracer = trace.NoOpTracer()
_latest: OrderedDict[str, str] = OrderedDict()


def endpoint(environ: Mapping[str, str] = os.environ) -> str | None:
    """The OTLP endpoint traces go to (the standard variables), or None: tracing is off."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    return environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or None


def setup(service: str, *, instance: int = 0, environ: Mapping[str, str] = os.environ) -> bool:
    """Export this process's spans over OTLP/HTTP when an endpoint is set (True), else leave tracing off.

    The exporter reads the other ``OTEL_EXPORTER_OTLP_*`` variables itself (headers, timeout, TLS);
    ``OTEL_TRACES_SAMPLER`` and ``OTEL_BSP_*`` apply as the SDK documents them.
    """
    global ENABLED, _tracer
    if endpoint(environ) is None:
        return False
    from shared.tracing_sdk import provider  # the SDK is imported only when tracing is on

    made = provider(service, instance=instance, max_links=MAX_LINKS)
    trace.set_tracer_provider(made)  # FastAPI's own HTTP server spans use it too
    _tracer = made.get_tracer("smguard")
    ENABLED = True
    return True


def start(
    name: str, *, kind: SpanKind = SpanKind.INTERNAL, parent: str | None = None, links: Sequence[str | None] = (),
    attributes: Mapping[str, Any] | None = None,
) -> Span | None:
    """A started span (None when tracing is off): the child of ``parent`` (a traceparent) when it is one,
    else of the current span; linked to the traces of ``links`` (at most ``MAX_LINKS``)."""
    if not ENABLED:
        return None
    context = _context_of(parent) if parent else None
    linked = _links(links)
    return _tracer.start_span(name, context=context, kind=kind, links=linked, attributes=attributes)


def end(span: Span | None, error: BaseException | None = None) -> None:
    """End a span (an error marks it failed, with the error's type only: its text may hold user input)."""
    if span is None:
        return
    if error is not None:
        span.set_attribute("error.type", type(error).__name__)
        span.set_status(StatusCode.ERROR)
    span.end()


def traceparent_of(span: Span | None) -> str | None:
    """The W3C traceparent of a span (None for no span)."""
    if span is None:
        return None
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier, context=trace.set_span_in_context(span))
    return carrier.get("traceparent")


def current_traceparent() -> str | None:
    """The traceparent of the current span (e.g. the HTTP request being served), or None."""
    if not ENABLED:
        return None
    span = trace.get_current_span()
    return traceparent_of(span) if span.get_span_context().is_valid else None


def headers(span: Span | None) -> dict[str, str]:
    """The ``traceparent`` header an outgoing request carries for ``span`` (none without one)."""
    value = traceparent_of(span)
    return {"traceparent": value} if value else {}


@contextmanager
def attached(traceparent: str | None) -> Iterator[None]:
    """Run the block as part of the trace ``traceparent`` names (spans started in it are its children)."""
    if not ENABLED or not traceparent:
        yield
        return
    token = otel_context.attach(_context_of(traceparent))
    try:
        yield
    finally:
        otel_context.detach(token)


@contextmanager
def current(span: Span | None) -> Iterator[None]:
    """Run the block with ``span`` as the current span (what it starts are its children); no span: as it is."""
    if span is None:
        yield
        return
    token = otel_context.attach(trace.set_span_in_context(span))
    try:
        yield
    finally:
        otel_context.detach(token)


def remember(aggregate_id: str, traceparent: str | None) -> None:
    """Note the trace of an aggregate's latest append (bounded: the oldest are forgotten)."""
    if not ENABLED or not traceparent:
        return
    _latest[aggregate_id] = traceparent
    _latest.move_to_end(aggregate_id)
    while len(_latest) > LATEST_TRACES:
        _latest.popitem(last=False)


def latest(aggregate_id: str) -> str | None:
    """The trace of the aggregate's latest append in this process (None: not known, or tracing off)."""
    return _latest.get(aggregate_id) if ENABLED else None


def _context_of(traceparent: str) -> otel_context.Context:
    return _PROPAGATOR.extract({"traceparent": traceparent}, context=otel_context.Context())


def _links(traceparents: Sequence[str | None]) -> list[Link]:
    links: list[Link] = []
    seen: set[str] = set()
    for value in traceparents:
        if not value or value in seen:
            continue
        seen.add(value)
        span = trace.get_current_span(_context_of(value))
        if isinstance(span, NonRecordingSpan) and span.get_span_context().is_valid:
            links.append(Link(span.get_span_context()))
            if len(links) == MAX_LINKS:
                break
    return links


def start_append(topic: str, aggregate_id: str, types: Sequence[str], *, parent: str | None) -> Span | None:
    """The span of an append to an event topic: staged now, ended when the broker commits it."""
    return start(
        f"append {topic}", kind=SpanKind.PRODUCER, parent=parent,
        attributes={**messaging(topic, "append", "send"), "messaging.kafka.message.key": aggregate_id,
                    "messaging.batch.message_count": len(types), "smguard.event.types": ",".join(sorted(set(types)))},
    )  # fmt: skip


def start_process(
    topic: str, *, parent: str | None = None, links: Sequence[str | None] = (), attributes: Mapping[str, Any] | None = None
) -> Span | None:
    """The span of consuming a record (``parent``: its traceparent) or a batch (``links``: theirs)."""
    if not ENABLED:
        return None
    distinct = {value for value in links if value}
    if parent is None and len(distinct) == 1:  # one record, or one trace: its child, not a link
        parent, links = distinct.pop(), ()
    described = {**messaging(topic, "process", "process"), **{k: v for k, v in (attributes or {}).items() if v is not None}}
    return start(f"process {topic}", kind=SpanKind.CONSUMER, parent=parent, links=links, attributes=described)


def messaging(topic: str, operation: str, kind: str) -> dict[str, str]:
    """The semantic-convention attributes of a Kafka operation on ``topic``."""
    return {
        "messaging.system": "kafka", "messaging.destination.name": topic, "messaging.operation.name": operation,
        "messaging.operation.type": kind,
    }  # fmt: skip


def end_when_done(span: Span | None, future: "asyncio.Future[Any]") -> None:
    """``future.add_done_callback`` for a span that lasts until the future is done (failed: the span too)."""
    error = None if future.cancelled() else future.exception()
    end(span, error if error is not None else (asyncio.CancelledError() if future.cancelled() else None))


def of_record(headers: Sequence[tuple[str, bytes]] | None) -> str | None:
    """The ``traceparent`` header of a Kafka record (as a producer following W3C trace context sets it), or None."""
    for name, value in headers or ():
        if name == "traceparent" and value:
            try:
                return value.decode("ascii")
            except UnicodeDecodeError:
                return None
    return None


@contextmanager
def sending(topic: str, traceparents: Sequence[str | None]) -> Iterator[Span | None]:
    """The span of sending records to ``topic`` that continue ``traceparents``' traces (one trace: its child;
    several: linked to each); ended when the block is, failed if it raises."""
    if not ENABLED:
        yield None
        return
    distinct = {value for value in traceparents if value}
    parent = next(iter(distinct)) if len(distinct) == 1 else None
    span = start(
        f"send {topic}", kind=SpanKind.PRODUCER, parent=parent, links=() if parent else list(distinct),
        attributes={**messaging(topic, "send", "send"), "messaging.batch.message_count": len(traceparents)},
    )  # fmt: skip
    try:
        yield span
    except BaseException as exc:
        end(span, exc)
        raise
    end(span)


def start_post(what: str, url: str, *, parent: str | None = None, links: Sequence[str | None] = (),
               attributes: Mapping[str, Any] | None = None) -> Span | None:
    """The client span of an outgoing POST (a webhook), naming its peer by address only: a webhook URL's
    path or query may hold a token."""
    if not ENABLED:
        return None
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    described: dict[str, Any] = {
        "http.request.method": "POST", "url.scheme": parts.scheme, "server.address": parts.hostname or "",
        **({"server.port": port} if port else {}), **(attributes or {}),
    }  # fmt: skip
    distinct = {value for value in links if value}
    if parent is None and len(distinct) == 1:
        parent, links = distinct.pop(), ()
    return start(f"POST {what}", kind=SpanKind.CLIENT, parent=parent, links=links, attributes=described)


def answered(span: Span | None, status: int) -> None:
    """Note the HTTP status a POST was answered with (not 2xx: the span failed)."""
    if span is None:
        return
    span.set_attribute("http.response.status_code", status)
    if status >= 400:
        span.set_attribute("error.type", str(status))
        span.set_status(StatusCode.ERROR)
