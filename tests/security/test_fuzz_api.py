"""Every service's OpenAPI document, fuzzed in-process (ASGI) on the real broker: no 5xx, every answer as documented.

Bounded for CI and reproducible: a fixed number of derandomized examples per operation and role.
The apps run in schemathesis's own event loop (its ASGI client starts their lifespans there).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any, Callable

import hypothesis
import hypothesis.errors
import pytest
import schemathesis
from schemathesis import GenerationMode
from fastapi import FastAPI
from hypothesis import HealthCheck, given
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.checks import not_a_server_error

from services.audit.bootstrap import build_app as audit_app
from services.connection.bootstrap import build_app as connection_app
from services.incident.bootstrap import build_app as incident_app
from services.notification.bootstrap import build_app as notification_app
from tests.factories import bearer, delete_topics, make_settings, uid

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")]
EXAMPLES = 6


@schemathesis.check
def no_server_error_but_a_documented_503(ctx: Any, response: Any, case: Any) -> bool | None:
    """No 5xx — except the documented 503 with ``Retry-After``: the partition is being rebalanced or the broker
    is away, and the client is told to try again (the fault suite holds that it then succeeds)."""
    if response.status_code == 503 and response.headers.get("retry-after"):
        return None
    return not_a_server_error(ctx, response, case)


CHECKS = [no_server_error_but_a_documented_503, status_code_conformance, content_type_conformance, response_schema_conformance]
ROLES: dict[str, list[str]] = {
    "incident": ["utility_soc", "operator", "sensor"],
    "connection": ["utility_soc", "operator"],
    "notification": ["utility_soc", "operator"],
    "audit": ["auditor", "operator"],
}
BUILD: dict[str, Callable[..., FastAPI]] = {
    "incident": incident_app, "connection": connection_app, "notification": notification_app, "audit": audit_app,
}  # fmt: skip


@pytest.fixture(scope="module")
def apps(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, dict[str, FastAPI]]]:
    """The four services on topics of their own, started in schemathesis's loop; their settings."""
    prefix = f"t{uid('fz')[3:]}."
    settings = make_settings(kafka_bootstrap, prefix, tmp_path_factory.mktemp("fuzz"))
    built = {name: build(settings) for name, build in BUILD.items()}
    try:
        for app in built.values():
            with asgi.get_client(app) as client:  # starts the app's lifespan, kept until shutdown_lifespans()
                _until_ready(client)
        yield settings, built
    finally:
        asgi.shutdown_lifespans()
        delete_topics(kafka_bootstrap, prefix)


def _until_ready(client: Any, timeout: float = 60.0) -> None:
    """Poll ``/readyz`` until the service owns its partitions and its projections caught up."""
    deadline = time.monotonic() + timeout
    while client.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, "the service did not become ready"
        time.sleep(0.1)


@pytest.mark.parametrize("service", list(BUILD))
def test_no_operation_answers_a_server_error_or_off_its_schema(service: str, apps: tuple[Any, dict[str, FastAPI]]) -> None:
    settings, built = apps
    app = built[service]
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    for role in ROLES[service]:
        headers = bearer(settings, role, operator_id="op-fuzz" if role == "operator" else None)
        modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE] if role == ROLES[service][0] else [GenerationMode.POSITIVE]
        for result in schema.get_all_operations():
            if result.ok().path == "/readyz":
                continue  # its 503 is its documented meaning (not ready), not a server error
            for mode in modes:
                failures += _fuzz(app, result.ok(), headers, role, mode)
    assert not failures, "\n".join(failures)


def _fuzz(app: FastAPI, operation: Any, headers: dict[str, str], role: str, mode: GenerationMode) -> list[str]:
    found: list[str] = []

    @hypothesis.settings(
        max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
        suppress_health_check=list(HealthCheck), phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
    )  # fmt: skip
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        try:
            case.call_and_validate(headers=headers, checks=CHECKS, app=app)
        except Exception as exc:  # noqa: BLE001 - collect every operation's failures, then fail once
            found.append(f"{role} {mode.value} {operation.method.upper()} {operation.path}: {type(exc).__name__}: {str(exc)[:800]}")

    try:
        run()
    except hypothesis.errors.Unsatisfiable:
        assert mode is GenerationMode.NEGATIVE  # nothing in the operation can be made invalid (no parameters)
    return found
