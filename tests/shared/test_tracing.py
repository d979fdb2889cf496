"""Trace context through the envelope, spans' parents and links, what spans leave out, and tracing off."""

from __future__ import annotations

import subprocess
import sys
from typing import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from opentelemetry.trace import SpanKind

from shared import tracing
from shared.config import REPO_ROOT
from shared.envelope import Envelope, decode, encode
from shared.events.incident import IncidentCleared
from shared.tracing_sdk import NoProbes, QueryNamesOnly


@pytest.fixture
def exported(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """Tracing on for this test, into memory (the process's global provider is left alone)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=NoProbes(ALWAYS_ON))
    provider.add_span_processor(QueryNamesOnly())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(tracing, "_tracer", provider.get_tracer("test"))
    monkeypatch.setattr(tracing, "ENABLED", True)
    yield exporter
    provider.shutdown()


def _envelope(traceparent: str | None) -> Envelope:
    event = IncidentCleared(incident_id="inc-1", cleared_by="utility", summary="done")
    return Envelope(event=event, subject="inc-1", sequence=3, source="smguard/incident", traceparent=traceparent)


class TestTheTraceTravelsWithTheEvent:
    def test_the_consumer_of_an_event_continues_the_trace_of_the_append_that_wrote_it(self, exported) -> None:
        append = tracing.start_append("smguard.incident.events", "inc-1", ["IncidentCleared"], parent=None)
        message = encode(_envelope(tracing.traceparent_of(append)))
        tracing.end(append)
        assert message.headers["traceparent"] == tracing.traceparent_of(append).encode()

        read = decode(message.value, key=message.key)
        tracing.end(tracing.start_process("smguard.incident.events", parent=read.traceparent))

        written, consumed = exported.get_finished_spans()
        assert consumed.context.trace_id == written.context.trace_id
        assert consumed.parent.span_id == written.context.span_id
        assert (written.kind, consumed.kind) == (SpanKind.PRODUCER, SpanKind.CONSUMER)

    def test_a_batch_of_records_of_several_traces_links_each_and_starts_its_own(self, exported) -> None:
        first, second = (tracing.start_append("t", f"a-{n}", ["X"], parent=None) for n in (1, 2))
        traces = [tracing.traceparent_of(first), tracing.traceparent_of(second)]
        tracing.end(tracing.start_process("t", links=[*traces, traces[0], None]))

        [batch] = [s for s in exported.get_finished_spans() if s.name == "process t"]
        assert {link.context.trace_id for link in batch.links} == {first.get_span_context().trace_id, second.get_span_context().trace_id}
        assert batch.context.trace_id not in {link.context.trace_id for link in batch.links}

    def test_a_batch_of_one_trace_is_that_traces_child(self, exported) -> None:
        write = tracing.start_append("t", "a-1", ["X"], parent=None)
        tracing.end(tracing.start_process("t", links=[tracing.traceparent_of(write)] * 3))
        [batch] = exported.get_finished_spans()
        assert batch.parent.span_id == write.get_span_context().span_id and not batch.links

    def test_a_record_with_a_malformed_traceparent_starts_a_trace_of_its_own(self, exported) -> None:
        tracing.end(tracing.start_process("t", parent="00-not-a-trace-01"))
        [span] = exported.get_finished_spans()
        assert span.parent is None and span.context.is_valid


class TestWhatSpansLeaveOut:
    def test_a_webhook_span_names_its_peer_by_address_only_and_the_request_carries_it(self, exported) -> None:
        decided = tracing.start_append("t", "conn-1", ["ConnectionBlocked"], parent=None)
        span = tracing.start_post("enforcement", "https://user:pw@hes.example:8443/enforce?token=s3cret",
                                  parent=tracing.traceparent_of(decided))  # fmt: skip
        header = tracing.headers(span)["traceparent"]
        tracing.answered(span, 503)
        tracing.end(span)

        [post] = [s for s in exported.get_finished_spans() if s.name == "POST enforcement"]
        assert (post.attributes["server.address"], post.attributes["server.port"]) == ("hes.example", 8443)
        assert not [v for v in post.attributes.values() if any(word in str(v) for word in ("s3cret", "pw", "enforce"))]
        assert header.split("-")[1:3] == [f"{post.context.trace_id:032x}", f"{post.context.span_id:016x}"]
        assert post.parent.span_id == decided.get_span_context().span_id
        assert post.status.is_ok is False and post.attributes["http.response.status_code"] == 503

    def test_a_request_keeps_its_query_parameters_names_only(self, exported) -> None:
        attributes = {"url.path": "/auth/callback", "url.query": "code=s3cret&state=abc"}
        tracing.end(tracing.start("GET", kind=SpanKind.SERVER, attributes=attributes))
        [span] = exported.get_finished_spans()
        assert span.attributes["url.query"] == "code&state"

    def test_a_monitors_probe_starts_no_trace(self, exported) -> None:
        for path in ("/metrics", "/readyz", "/connections"):
            tracing.end(tracing.start("GET", kind=SpanKind.SERVER, attributes={"url.path": path}))
        assert [s.attributes["url.path"] for s in exported.get_finished_spans()] == ["/connections"]

    def test_the_traces_remembered_per_aggregate_are_bounded(self, exported, monkeypatch) -> None:
        monkeypatch.setattr(tracing, "LATEST_TRACES", 2)
        monkeypatch.setattr(tracing, "_latest", type(tracing._latest)())
        for n in range(3):
            tracing.remember(f"conn-{n}", f"00-{n + 1:032x}-{n + 1:016x}-01")
        assert tracing.latest("conn-0") is None and tracing.latest("conn-2") is not None


class TestTracingOff:
    def test_without_an_endpoint_nothing_is_traced_and_the_sdk_is_never_loaded(self) -> None:
        code = (
            "import sys; from shared import tracing\n"
            "assert tracing.setup('incident', environ={}) is False\n"
            "assert tracing.start_append('t', 'a', ['X'], parent=None) is None and tracing.current_traceparent() is None\n"
            "print(sorted(m for m in sys.modules if m.startswith('opentelemetry.sdk')))"
        )
        done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "[]"

    def test_an_endpoint_turns_it_on_and_the_sdk_switch_turns_it_off(self) -> None:
        assert tracing.endpoint({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}) == "http://collector:4318"
        assert tracing.endpoint({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"}) is None
        assert tracing.endpoint({}) is None
