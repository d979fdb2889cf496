"""Settings from the environment (prefix ``SMGUARD_``); the one place that reads it."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.services import CONSOLE, SERVICES

REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Everything a service can be told from outside; defaults suit one laptop."""

    model_config = SettingsConfigDict(env_prefix="SMGUARD_", extra="ignore")

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    topic_prefix: str = ""
    topic_partitions: int = Field(default=3, ge=1)
    topic_replication_factor: int = Field(default=1, ge=1)
    topic_min_insync_replicas: int = Field(default=1, ge=1)
    # How the clients reach the broker (shared.kafka.clients): TLS and SASL by default.
    kafka_security_protocol: Literal["SASL_SSL", "SASL_PLAINTEXT", "SSL", "PLAINTEXT"] = "SASL_SSL"
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = "SCRAM-SHA-512"
    kafka_username: str | None = None
    """The principal this process connects as; unset on a development machine: the local broker's admin."""
    kafka_password: SecretStr | None = None
    kafka_password_file: Path | None = None
    """A file holding the password (e.g. a mounted secret); read when SMGUARD_KAFKA_PASSWORD is unset."""
    kafka_ca_file: Path | None = None
    """The CA that signed the broker's certificate (PEM); unset: the local broker's CA, else the system's."""

    data_dir: Path = REPO_ROOT / ".data"
    jwt_secret: str | None = None
    jwt_issuer: str = "smguard"
    token_ttl_seconds: int = 8 * 3600

    log_level: str = "INFO"
    host: str = "127.0.0.1"
    incident_port: int = 8101
    connection_port: int = 8102
    notification_port: int = 8103
    audit_port: int = 8104
    console_port: int = 8100

    parked_retry_seconds: float = 5.0
    readiness_max_lag: int = Field(default=1000, ge=0)
    """A projection further behind its topics than this many records makes the service not ready."""

    instance: int = Field(default=0, ge=0)
    """Which instance of its service this process is (0 = the first, on the service's default port)."""
    instance_port_base: int = Field(default=8200, ge=1)
    """Where the ports of further instances start: instance K>0 of the i-th service listens on
    ``instance_port_base + 4 * (K - 1) + i`` (incident, connection, notification, audit)."""
    key_window_days: float = Field(default=7.0, gt=0)
    """How long idempotency keys and applied event ids are kept (a retry or redelivery later than this is new)."""
    state_cache_size: int = Field(default=10_000, ge=100)
    """Aggregate snapshots kept in memory per service instance (the rest are read from the local store)."""
    commit_deadline_seconds: float = Field(default=10.0, gt=0, le=600)
    """How long a request waits for the broker to confirm its write before a 503 saying it may still commit
    (too few in-sync replicas, the broker away); a retry with the same Idempotency-Key gets the first answer."""
    group_session_seconds: float = Field(default=10.0, ge=6.0, le=300.0)
    """How long a silent instance keeps its partitions before the others take them over (every consumer
    group: the store's owners and the stream agents). Shorter fails over sooner; longer rides out pauses."""

    # input
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    """The largest request body a route reads (413 beyond it, before any parsing)."""
    max_event_bytes: int = Field(default=900 * 1024, ge=1024)
    """The largest record an append may write (an event, a snapshot, a kept answer): 422 beyond it. Keep it
    below the broker's ``message.max.bytes`` (1 MiB by default) so the broker never refuses a record."""
    clock_skew_seconds: float = Field(default=300.0, ge=0.0, le=86400.0)
    """How far in the future a time a caller supplies (``detected_at``, ``observed_at``) may lie: clocks drift."""

    def topic(self, base: str) -> str:
        """The full name of a topic, with this deployment's prefix."""
        return f"{self.topic_prefix}{base}"

    def port_of(self, service: str, instance: int | None = None) -> int:
        """The HTTP port of an instance of a service (this process's instance by default)."""
        k = self.instance if instance is None else instance
        if k == 0:
            return int(getattr(self, f"{service}_port"))
        if service == CONSOLE:
            raise ValueError("the console runs as one instance (it keeps no state a second one would share)")
        return self.instance_port_base + 4 * (k - 1) + SERVICES.index(service)

    # tokens
    oidc_issuer: str | None = None
    """The identity provider whose tokens the services accept (``iss``). Set it in production: tokens are then
    verified against its published keys (RS256/ES256) and ``smguard token`` mints nothing."""
    oidc_audience: str | None = None
    """The ``aud`` a token must name to be accepted (required with an issuer)."""
    oidc_jwks_url: str | None = None
    """Where the issuer's keys are (default: ``jwks_uri`` from ``<issuer>/.well-known/openid-configuration``)."""
    oidc_role_claim: str = "role"
    """The claim that holds the caller's role (a dotted path such as ``realm_access.roles`` reaches into objects)."""
    oidc_operator_claim: str = "operator_id"
    """The claim that holds an operator's tenant id."""
    oidc_role_map: str = ""
    """Which of the identity provider's role names means which smguard role, e.g.
    ``soc-analysts=utility_soc,auditors=auditor``; empty: the claim holds smguard's role names."""
    oidc_jwks_cache_seconds: float = Field(default=300.0, gt=0)
    """How long the issuer's keys are kept before they are fetched again."""
    oidc_jwks_refresh_seconds: float = Field(default=30.0, ge=0)
    """A token signed with a key not yet known fetches the keys again at most this often."""
    oidc_http_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    """How long fetching the issuer's discovery document or keys may take."""
    jwt_leeway_seconds: int = Field(default=30, ge=0, le=300)
    """Clock skew tolerated on ``exp``, ``nbf`` and ``iat``."""
    jwt_secret_file: Path | None = None
    """A file holding the development signing key (a mounted secret), instead of ``jwt_secret``."""
    jwt_allow_non_loopback: bool = False
    """Let a service without an issuer listen beyond loopback: only inside a container whose ports the host
    publishes on its own loopback (the compose file does); never on a network."""
    token: SecretStr | None = None
    """The bearer token the command line sends to the services (``SMGUARD_TOKEN``)."""


@lru_cache
def get_settings() -> Settings:
    """Settings read once per process."""
    return Settings()
