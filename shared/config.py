"""Settings from the environment (prefix ``SMGUARD_``); the one place that reads it."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

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

    def topic(self, base: str) -> str:
        """The full name of a topic, with this deployment's prefix."""
        return f"{self.topic_prefix}{base}"

    def port_of(self, service: str) -> int:
        """The HTTP port a service listens on."""
        return int(getattr(self, f"{service}_port"))


@lru_cache
def get_settings() -> Settings:
    """Settings read once per process."""
    return Settings()
