"""Settings from the environment (prefix ``SMGUARD_``); the one place that reads it."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.services import SERVICES

REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Everything a service can be told from outside; defaults suit one laptop."""

    model_config = SettingsConfigDict(env_prefix="SMGUARD_", extra="ignore")

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    topic_prefix: str = ""
    topic_partitions: int = Field(default=3, ge=1)
    topic_replication_factor: int = Field(default=1, ge=1)
    topic_min_insync_replicas: int = Field(default=1, ge=1)

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
        return self.instance_port_base + 4 * (k - 1) + SERVICES.index(service)


@lru_cache
def get_settings() -> Settings:
    """Settings read once per process."""
    return Settings()
