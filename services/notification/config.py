"""Settings of the notification service (prefix ``SMGUARD_``): SMTP, webhooks, the utility desk, timing."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class NotificationSettings(BaseSettings):
    """What the notification service can be told from outside; defaults suit one laptop."""

    model_config = SettingsConfigDict(env_prefix="SMGUARD_", extra="ignore")

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    smtp_from: str = "smguard@localhost"
    smtp_timeout_seconds: float = Field(default=10.0, gt=0)
    webhook_secret: str = "change-me-webhook-secret"
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
