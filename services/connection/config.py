"""Settings of the connection service (environment, prefix ``SMGUARD_``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.webhooks import require_strong


class ConnectionSettings(BaseSettings):
    """Secrets key and enforcement peer; defaults suit one laptop."""

    model_config = SettingsConfigDict(env_prefix="SMGUARD_", extra="ignore")

    connection_secrets_keyring: Path | None = None
    """Folder of the Fernet keys sealing connection secrets, ``<key id>.key`` each (the newest seals, all open);
    unset: ``<data_dir>/connection-keys``. ``smguard secrets rotate-key`` adds one."""
    connection_secrets_key: str | None = None
    """A Fernet key from before key rings (id ``legacy``): it opens, and seals only while the ring folder is empty;
    unset: ``<data_dir>/connection-secrets.key`` when that file exists."""
    enforcement_url: str | None = None
    """The HES / network access control webhook; unset: requests stay pending (logged), none is faked."""
    enforcement_secret: str | None = None
    """HMAC-SHA256 key signing enforcement requests; unset: ``<data_dir>/dev-enforcement-secret`` (smguard run's)."""
    @field_validator("enforcement_secret")
    @classmethod
    def _strong(cls, value: str | None) -> str | None:
        return None if value is None else require_strong(value, setting="SMGUARD_ENFORCEMENT_SECRET")

    enforcement_mode: Literal["single", "bulk"] = "single"
    """``single``: one POST per request (any HES peer); ``bulk``: requests sent together share one POST
    with a result per request (for peers that take the bulk form; ``smguard run``'s stand-in does)."""
    enforcement_bulk_max_requests: int = Field(default=500, ge=1, le=10_000)
    """Requests one bulk POST carries at most."""
    enforcement_bulk_linger_ms: float = Field(default=2.0, ge=0, le=1000)
    """How long a bulk POST waits for more requests after the first (milliseconds)."""
    enforcement_timeout_seconds: float = Field(default=10.0, gt=0)
    enforcement_backoff_seconds: float = Field(default=1.0, gt=0)
    enforcement_backoff_max_seconds: float = Field(default=60.0, gt=0)
    enforcement_escalate_seconds: float = Field(default=300.0, gt=0)
    enforcement_sweep_seconds: float = Field(default=1.0, gt=0)
    """How often overdue requests are escalated and committed ones without a sender restarted."""
    compliance_check_seconds: float = Field(default=86400.0, gt=0)
    """How often the overdue check of part 5 runs (it also runs at start)."""
    compliance_upcoming_days: int = Field(default=30, ge=0)
    """A due date this many days ahead or fewer shows as upcoming on the compliance status."""
    max_bulk_rows: int = Field(default=10_000, ge=1, le=1_000_000)
    """The most rows one ``POST /connections/bulk`` may hold (413 beyond, nothing registered)."""
    max_bulk_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024, le=1024 * 1024 * 1024)
    """The largest body ``POST /connections/bulk`` reads (413 beyond it, before any parsing); every other route
    keeps ``SMGUARD_MAX_BODY_BYTES``."""
