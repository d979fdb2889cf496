"""The SDK's side of ``shared.tracing``, imported only when tracing is on: the provider, what it leaves out."""

from __future__ import annotations

from typing import Any, Optional, Sequence
from urllib.parse import parse_qsl

from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Span, SpanLimits, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.sdk.trace.sampling import _get_from_env_or_default as sampler_from_env
from opentelemetry.trace import Link, SpanKind
from opentelemetry.util.types import Attributes

PROBES = frozenset({"/healthz", "/readyz", "/metrics"})
"""Paths a monitor polls every few seconds: no trace of their own (a trace is for work someone caused)."""


def provider(service: str, *, instance: int, max_links: int) -> TracerProvider:
    """A provider exporting over OTLP/HTTP in batches, with ``service`` as its resource."""
    resource = Resource.create(
        {"service.name": service, "service.namespace": "smguard", "service.instance.id": f"{service}/{instance}"}
    )
    limits = SpanLimits(max_attributes=32, max_events=16, max_links=max_links, max_attribute_length=256)
    made = TracerProvider(resource=resource, span_limits=limits, sampler=NoProbes(sampler_from_env()))
    made.add_span_processor(QueryNamesOnly())
    made.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return made


class NoProbes(Sampler):
    """The configured sampler (``OTEL_TRACES_SAMPLER``), except that a probe's request starts no trace."""

    def __init__(self, inner: Sampler) -> None:
        self._inner = inner

    def should_sample(
        self, parent_context: Optional[Context], trace_id: int, name: str, kind: Optional[SpanKind] = None,
        attributes: Attributes = None, links: Optional[Sequence[Link]] = None, trace_state: Any = None,
    ) -> SamplingResult:
        if kind is SpanKind.SERVER and attributes and attributes.get("url.path") in PROBES:
            return SamplingResult(Decision.DROP)
        return self._inner.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

    def get_description(self) -> str:
        return f"NoProbes{{{self._inner.get_description()}}}"


class QueryNamesOnly(SpanProcessor):
    """A request's query string keeps its parameters' names only: a value could be a secret (a sign-in code)."""

    def on_start(self, span: Span, parent_context: Optional[Context] = None) -> None:
        query = (span.attributes or {}).get("url.query")
        if isinstance(query, str):
            span.set_attribute("url.query", "&".join(name for name, _ in parse_qsl(query, keep_blank_values=True)))

