"""One anomaly, one trace: the services as real processes export their spans over OTLP/HTTP to a receiver here."""

from __future__ import annotations

import gzip
import json
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest, ExportTraceServiceResponse

from shared.config import Settings
from shared.demo.client import DemoError, Smguard
from shared.demo.story import Story
from shared.devhes import DevHes
from shared.localbroker import broker_module
from shared.processes import System
from shared.services import SERVICES
from tests.e2e.conftest import ENFORCEMENT_SECRET
from tests.factories import TEST_SECRET

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Received:
    """A span as the collector received it."""

    service: str
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    attributes: dict[str, Any]


class Collector(ThreadingHTTPServer):
    """An OTLP/HTTP receiver on loopback: ``POST /v1/traces`` in protobuf, the spans kept in memory."""

    def __init__(self, port: int) -> None:
        super().__init__(("127.0.0.1", port), _Receive)
        self.spans: list[Received] = []
        self.lock = threading.Lock()

    def received(self) -> list[Received]:
        with self.lock:
            return list(self.spans)


class _Receive(BaseHTTPRequestHandler):
    server: Collector

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        if self.path != "/v1/traces" or self.headers.get("Content-Type") != "application/x-protobuf":
            self.send_response(404)
            self.end_headers()
            return
        request = ExportTraceServiceRequest.FromString(body)
        spans = [span for resource in request.resource_spans for span in _spans(resource)]
        with self.server.lock:
            self.server.spans.extend(spans)
        answer = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


def _spans(resource: Any) -> Iterator[Received]:
    service = next(a.value.string_value for a in resource.resource.attributes if a.key == "service.name")
    for scope in resource.scope_spans:
        for span in scope.spans:
            attributes = {a.key: _value(a.value) for a in span.attributes}
            yield Received(service, span.name, span.trace_id.hex(), span.span_id.hex(),
                           span.parent_span_id.hex(), attributes)  # fmt: skip


def _value(value: Any) -> Any:
    return getattr(value, value.WhichOneof("value")) if value.WhichOneof("value") else None


class Patient(Smguard):
    """The story's client, retrying what a service answers 503 (a rebalance under way) as the answer asks."""

    def call(self, method: str, service: str, path: str, **options: Any) -> Any:
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                return super().call(method, service, path, **options)
            except DemoError as exc:
                if ": 503 " not in str(exc) or time.monotonic() > deadline:
                    raise
            time.sleep(0.5)


@pytest.fixture(scope="module")
def traced(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[System, Collector, DevHes]]:
    """The incident and connection services, each exporting its spans to the collector, enforcing at a HES stand-in."""
    data = tmp_path_factory.mktemp("traces")
    free_port = broker_module().free_port
    collector = Collector(free_port())
    threading.Thread(target=collector.serve_forever, name="otlp-collector", daemon=True).start()
    hes = DevHes(port=free_port(), secret=ENFORCEMENT_SECRET, folder=data / "hes")
    hes.start()
    running = System(
        bootstrap=kafka_bootstrap, prefix=f"tr{uuid.uuid4().hex[:6]}.", data_dir=data / "services", secret=TEST_SECRET,
        extra_env={
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{collector.server_address[1]}",
            "OTEL_BSP_SCHEDULE_DELAY": "100",  # export within a tenth of a second (the default waits 5 s)
            "SMGUARD_ENFORCEMENT_URL": f"http://127.0.0.1:{hes.server_address[1]}/enforce",
            "SMGUARD_ENFORCEMENT_SECRET": ENFORCEMENT_SECRET,
            "SMGUARD_ENFORCEMENT_MODE": "bulk",  # as smguard run sets it
            "SMGUARD_ENFORCEMENT_SWEEP_SECONDS": "0.2",
        },
    )  # fmt: skip
    try:
        running.start("incident", "connection")  # the services the trace passes through
        yield running, collector, hes
    finally:
        running.stop()
        hes.stop()
        collector.shutdown()
        collector.server_close()


def test_one_anomaly_is_one_trace_from_the_sensor_to_the_enforcement_request(traced) -> None:
    system, collector, hes = traced
    settings = Settings(kafka_bootstrap_servers=system.bootstrap, topic_prefix=system.prefix, jwt_secret=TEST_SECRET)
    api = Patient(settings, {s: system.url(s) for s in SERVICES}, timeout=60)
    story = Story(api, lambda *_: None)
    story.onboard()
    story.meters()
    _, connection = story.target
    story.anomaly()
    story.block_is_enforced()

    [received] = [r for r in _hes_requests(hes) if r["connection_id"] == connection]
    _, trace_id, sender_span, _ = received["traceparent"].split("-")
    spans = api.until("the trace's spans exported", lambda: _complete(collector.received(), trace_id))
    by_id = {span.span_id: span for span in spans}

    [root] = [span for span in spans if not span.parent_id]  # the sensor's request began the trace
    assert (root.service, root.name) == ("incident", "POST /anomalies")
    assert by_id[sender_span].service == "connection" and by_id[sender_span].name == "POST enforcement"
    assert _path(by_id, sender_span) == [
        ("incident", "POST /anomalies"),
        ("incident", f"append {system.prefix}smguard.incident.events"),
        ("connection", f"process {system.prefix}smguard.incident.events"),
        ("connection", f"send {system.prefix}smguard.connection.commands"),
        ("connection", f"process {system.prefix}smguard.connection.commands"),
        ("connection", f"append {system.prefix}smguard.connection.events"),
        ("connection", "POST enforcement"),
    ]
    exported = repr([span.attributes for span in collector.received()])
    assert not [secret for secret in story.facts.secrets if secret in exported]


def _complete(spans: list[Received], trace_id: str) -> list[Received] | None:
    """The trace's spans once the enforcement request's and its ancestors' have all arrived."""
    ours = [span for span in spans if span.trace_id == trace_id]
    by_id = {span.span_id: span for span in ours}
    sender = [span for span in ours if span.name == "POST enforcement"]
    if not sender or len(_path(by_id, sender[0].span_id)) < 7:
        return None
    return ours


def _path(by_id: dict[str, Any], span_id: str) -> list[tuple[str, str]]:
    """The services and names from the trace's root down to a span (``fastapi.*`` operation spans left out)."""
    path = []
    while span_id in by_id:
        span = by_id[span_id]
        if not span.name.startswith("fastapi."):
            path.append((span.service, span.name))
        span_id = span.parent_id
    return path[::-1]


def _hes_requests(hes: DevHes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in hes.log_file.read_text().splitlines()] if hes.log_file.exists() else []
