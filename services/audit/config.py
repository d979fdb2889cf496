"""Settings of the audit service (prefix ``SMGUARD_``), beside the shared ones."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.config import Settings


class AuditSettings(BaseSettings):
    """What the audit service can be told from outside."""

    model_config = SettingsConfigDict(env_prefix="SMGUARD_", extra="ignore")

    audit_signing_key: str | None = Field(
        default=None, description="Ed25519 private key: base64 of the raw 32 bytes, or PEM (PKCS#8)"
    )
    audit_checkpoint_seconds: float = Field(default=300.0, gt=0, description="how often to sign a tree head")
    audit_verify_seconds: float = Field(
        default=3600.0, ge=0, description="how often the service verifies its own log (the metrics show the result); 0: never"
    )


def audit_dir(settings: Settings) -> Path:
    """Where the audit service keeps its files under the data folder."""
    return settings.data_dir / "audit"


def log_db_path(settings: Settings) -> Path:
    """The audit log projection (deletable: rebuilt from the topics); one per instance (each a full replica)."""
    return audit_dir(settings) / f"audit-log{_instance(settings)}.sqlite"


def checkpoint_db_path(settings: Settings) -> Path:
    """Signed checkpoints (statements made at a time; not a projection, kept across rebuilds)."""
    return audit_dir(settings) / f"checkpoints{_instance(settings)}.sqlite"


def _instance(settings: Settings) -> str:
    """The first instance keeps the plain file names; instance K adds ``-K``."""
    return f"-{settings.instance}" if settings.instance else ""
