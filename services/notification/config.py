"""Settings of the notification service (prefix ``SMGUARD_``): SMTP, webhooks, the utility desk, timing."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.webhooks import require_strong
from services.notification.domain.destinations import DestinationPolicy, parse_networks


class NotificationSettings(BaseSettings):
    """What the notification service can be told from outside; defaults suit one laptop."""

    model_config = SettingsConfigDict(env_prefix="SMGUARD_", extra="ignore")

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    smtp_from: str = "smguard@localhost"
    smtp_timeout_seconds: float = Field(default=10.0, gt=0)
    webhook_secret: str | None = None
    """Master key every webhook recipient's secret is derived from; unset: ``<data_dir>/dev-webhook-secret``."""
    webhook_allow_private: bool = False
    """Let contacts' webhooks reach private, loopback, link-local and other non-public addresses (never in production)."""
    webhook_allowed_cidrs: str = ""
    """Comma-separated networks contacts' webhooks may reach besides public addresses (development: loopback)."""
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    public_base_url: str = "http://127.0.0.1:8103"

    desk_name: str = "ネットワークサービスセンター託送運営グループ"
    desk_organisation: str = "一般送配電事業者 / the utility"
    desk_email: str = "takuso-desk@utility.example"
    desk_webhook_url: str | None = None
    desk_fallback_name: str = "ネットワークサービスセンター (fallback desk)"
    desk_fallback_email: str = "takuso-fallback@utility.example"

    ack_timeout_seconds: float = Field(default=3600.0, gt=0)
    delivery_max_attempts: int = Field(default=6, ge=1)
    retry_base_seconds: float = Field(default=5.0, gt=0)
    retry_max_seconds: float = Field(default=900.0, gt=0)
    dispatch_interval_seconds: float = Field(default=1.0, gt=0)
    notice_hold_seconds: float = Field(default=5.0, ge=0, le=3600)
    """How long a coalesced notice (a storm's: blocks, anomalies, reconnections …) waits for more members before it goes out."""
    notice_digest_seconds: float = Field(default=60.0, ge=0, le=86400)
    """The least time between two notices of one group: members that come after a notice went out wait for a digest."""

    @field_validator("webhook_secret")
    @classmethod
    def _strong(cls, value: str | None) -> str | None:
        return None if value is None else require_strong(value, setting="SMGUARD_WEBHOOK_SECRET")

    @field_validator("webhook_allowed_cidrs")
    @classmethod
    def _networks(cls, value: str) -> str:
        parse_networks(value)
        return value

    def destination_policy(self) -> DestinationPolicy:
        """Where contacts' webhooks may point."""
        return DestinationPolicy(allow_private=self.webhook_allow_private, allowed=parse_networks(self.webhook_allowed_cidrs))
