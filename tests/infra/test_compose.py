"""The structure of infra/docker-compose.yml, checked against the code (no Docker engine runs here to start it):
every process compose runs — the four services and the console — as the code defines it."""

from __future__ import annotations

import importlib
import json
import re

import yaml

from shared.cli import COMMANDS
from shared.services import PROCESSES
from shared import devsecrets
from shared.auth import check_settings
from shared.config import REPO_ROOT, Settings

COMPOSE = yaml.safe_load((REPO_ROOT / "infra" / "docker-compose.yml").read_text())
OBSERVABILITY = ("prometheus", "grafana")


def test_every_service_of_the_code_is_in_compose_and_nothing_else_but_kafka() -> None:
    others = {"kafka", "kafka-secrets", "kafka-setup", "mailcatcher", "jwt-key", *OBSERVABILITY}
    assert set(COMPOSE["services"]) - others == set(PROCESSES)


def test_each_service_runs_an_existing_command_on_the_port_the_code_defaults_to() -> None:
    defaults = Settings()
    for service in PROCESSES:
        spec = COMPOSE["services"][service]
        program, command, name = spec["command"]
        assert (program, command, name) == ("smguard", "serve", service)
        assert command in COMMANDS
        assert importlib.util.find_spec(f"services.{service}.bootstrap") is not None, service
        port = defaults.port_of(service)
        assert any(p.endswith(f"{port}:{port}") for p in spec["ports"])
        assert str(port) in " ".join(spec["healthcheck"]["test"])


def test_services_reach_the_broker_compose_starts_once_their_principals_exist() -> None:
    kafka = COMPOSE["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    advertised = kafka["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    assert COMPOSE["services"]["kafka-setup"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    for service in PROCESSES:
        spec = COMPOSE["services"][service]
        bootstrap = spec["environment"]["SMGUARD_KAFKA_BOOTSTRAP_SERVERS"]
        assert bootstrap in advertised
        assert spec["depends_on"]["kafka-setup"]["condition"] == "service_completed_successfully"


def test_compose_secures_the_broker_as_make_run_does() -> None:
    """TLS and SASL on every client listener, deny-by-default ACLs, each service its own principal,
    no password in any environment, the host's port on loopback only."""
    env = COMPOSE["services"]["kafka"]["environment"]
    protocols = dict(item.split(":") for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert protocols == {"CONTROLLER": "SASL_PLAINTEXT", "INTERNAL": "SASL_SSL", "EXTERNAL": "SASL_SSL"}
    assert env["KAFKA_AUTHORIZER_CLASS_NAME"].endswith("StandardAuthorizer")
    assert env["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"] == "false"
    assert COMPOSE["services"]["kafka"]["ports"] == ["127.0.0.1:9092:9092"]
    secrets = [v for k, v in env.items() if k.endswith("PASSWORD") or k.endswith("PLAIN_SASL_JAAS_CONFIG")]
    # "$$" is compose's escape for "$": Kafka's FileConfigProvider reads them from the broker's secret file.
    assert len(secrets) == 4 and all(v.startswith("$${file:/kafka-broker/broker.properties:") for v in secrets)
    for service in PROCESSES:
        spec = COMPOSE["services"][service]["environment"]
        assert spec["SMGUARD_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
        assert spec["SMGUARD_KAFKA_USERNAME"] == f"smguard-{service}"
        assert spec["SMGUARD_KAFKA_PASSWORD_FILE"].endswith(f"/smguard-{service}.password")
        assert "SMGUARD_KAFKA_PASSWORD" not in spec


def test_every_setting_compose_passes_is_one_the_code_reads() -> None:
    known = {f"SMGUARD_{name.upper()}" for name in Settings.model_fields}
    for service in PROCESSES:
        extra = {k for k in COMPOSE["services"][service]["environment"] if k.startswith("SMGUARD_")}
        service_settings = importlib.import_module(f"services.{service}.config")
        for value in vars(service_settings).values():
            fields = getattr(value, "model_fields", None)
            if fields and value.__module__ == service_settings.__name__:
                known |= {f"SMGUARD_{name.upper()}" for name in fields}
        assert extra <= known, extra - known


def test_development_tokens_use_a_generated_key_shared_by_the_services_and_published_on_loopback_only() -> None:
    key = COMPOSE["services"]["jwt-key"]
    assert "devsecrets" in " ".join(key["command"])  # 32 random bytes, owner-only, written once
    key_volume = next(v.split(":")[0] for v in key["volumes"] if v.split(":")[1] == "/data")
    for service in PROCESSES:
        spec = COMPOSE["services"][service]
        env = spec["environment"]
        secret = str(env.get("SMGUARD_JWT_SECRET", ""))
        assert not secret or secret.startswith("${SMGUARD_JWT_SECRET:?"), secret  # never a fixed default
        assert spec["depends_on"]["jwt-key"]["condition"] == "service_completed_successfully"
        folder, _ = str(env["SMGUARD_JWT_SECRET_FILE"]).rsplit("/", 1)
        assert f"{key_volume}:{folder}:ro" in spec["volumes"]
        if str(env.get("SMGUARD_JWT_ALLOW_NON_LOOPBACK", "")).lower() == "true":
            assert all(p.startswith("127.0.0.1:") for p in spec["ports"]), spec["ports"]


def test_the_development_settings_compose_passes_are_ones_a_service_starts_with(tmp_path) -> None:
    env = COMPOSE["services"]["audit"]["environment"]
    values = {k: re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", str(v)) for k, v in env.items() if k.startswith("SMGUARD_")}
    devsecrets.dev_secret(tmp_path, "jwt-signing-key")  # what jwt-key writes
    values |= {"SMGUARD_DATA_DIR": str(tmp_path), "SMGUARD_JWT_SECRET_FILE": str(tmp_path / "jwt-signing-key")}
    settings = Settings(**{k.removeprefix("SMGUARD_").lower(): v for k, v in values.items()})
    assert not settings.oidc_issuer and settings.host == "0.0.0.0"
    check_settings(settings)  # raises when a service would refuse to start


def _mounts(service: str) -> dict[str, str]:
    """A compose service's bind mounts: path in the container → the file on the host (checked to exist)."""
    found = {}
    for volume in COMPOSE["services"][service]["volumes"]:
        source, target, *_ = volume.split(":")
        if source.startswith("."):
            assert (REPO_ROOT / "infra" / source).is_file(), source
            found[target] = source
    return found


def test_prometheus_scrapes_every_process_on_its_port_and_loads_the_alert_rules() -> None:
    spec = COMPOSE["services"]["prometheus"]
    assert spec["image"].startswith("prom/prometheus:v") and spec["ports"] == ["127.0.0.1:9090:9090"]
    mounts = _mounts("prometheus")
    assert mounts["/etc/prometheus/prometheus.yml"] == "./observability/prometheus.yml"
    assert mounts["/etc/prometheus/alerts.yml"] == "./observability/alerts.yml"
    config = yaml.safe_load((REPO_ROOT / "infra" / "observability" / "prometheus.yml").read_text())
    assert config["rule_files"] == ["alerts.yml"]  # beside the config, where compose mounts it
    [job] = config["scrape_configs"]
    targets = {t for static in job["static_configs"] for t in static["targets"]}
    defaults = Settings()
    assert targets == {f"{service}:{defaults.port_of(service)}" for service in PROCESSES}


def test_grafana_is_provisioned_with_the_dashboard_and_prometheus_as_its_source() -> None:
    spec = COMPOSE["services"]["grafana"]
    assert spec["image"].startswith("grafana/grafana:") and spec["ports"] == ["127.0.0.1:3000:3000"]
    mounts = _mounts("grafana")
    datasource = yaml.safe_load((REPO_ROOT / "infra" / mounts["/etc/grafana/provisioning/datasources/smguard.yml"]).read_text())
    provider = yaml.safe_load((REPO_ROOT / "infra" / mounts["/etc/grafana/provisioning/dashboards/smguard.yml"]).read_text())
    folder = provider["providers"][0]["options"]["path"]
    [dashboard] = [REPO_ROOT / "infra" / host for target, host in mounts.items() if target.startswith(folder + "/")]
    [source] = datasource["datasources"]
    assert source["url"] == "http://prometheus:9090"
    uids = {t["datasource"]["uid"] for p in json.loads(dashboard.read_text())["panels"] for t in p["targets"]}
    assert uids == {source["uid"]}
