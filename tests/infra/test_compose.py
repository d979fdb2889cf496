"""The structure of infra/docker-compose.yml, checked against the code (no Docker engine runs here to start it)."""

from __future__ import annotations

import importlib

import yaml

from shared.cli import COMMANDS
from shared.services import SERVICES
from shared.config import REPO_ROOT, Settings

COMPOSE = yaml.safe_load((REPO_ROOT / "infra" / "docker-compose.yml").read_text())


def test_every_service_of_the_code_is_in_compose_and_nothing_else_but_kafka() -> None:
    assert set(COMPOSE["services"]) - {"kafka", "mailcatcher"} == set(SERVICES)


def test_each_service_runs_an_existing_command_on_the_port_the_code_defaults_to() -> None:
    defaults = Settings()
    for service in SERVICES:
        spec = COMPOSE["services"][service]
        program, command, name = spec["command"]
        assert (program, command, name) == ("smguard", "serve", service)
        assert command in COMMANDS
        assert importlib.util.find_spec(f"services.{service}.bootstrap") is not None, service
        port = defaults.port_of(service)
        assert f"{port}:{port}" in spec["ports"]
        assert str(port) in " ".join(spec["healthcheck"]["test"])


def test_services_reach_the_broker_compose_starts_and_wait_for_it_to_be_healthy() -> None:
    kafka = COMPOSE["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    advertised = kafka["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    for service in SERVICES:
        spec = COMPOSE["services"][service]
        bootstrap = spec["environment"]["SMGUARD_KAFKA_BOOTSTRAP_SERVERS"]
        assert bootstrap in advertised
        assert spec["depends_on"]["kafka"]["condition"] == "service_healthy"


def test_every_setting_compose_passes_is_one_the_code_reads() -> None:
    known = {f"SMGUARD_{name.upper()}" for name in Settings.model_fields}
    for service in SERVICES:
        extra = {k for k in COMPOSE["services"][service]["environment"] if k.startswith("SMGUARD_")}
        service_settings = importlib.import_module(f"services.{service}.config")
        for value in vars(service_settings).values():
            fields = getattr(value, "model_fields", None)
            if fields and value.__module__ == service_settings.__name__:
                known |= {f"SMGUARD_{name.upper()}" for name in fields}
        assert extra <= known, extra - known
