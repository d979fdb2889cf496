"""Settings of the web console (environment, prefix ``SMGUARD_``)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConsoleSettings(BaseSettings):
    """Sessions, the live feed, pages, and the console's client at the identity provider."""

    model_config = SettingsConfigDict(env_prefix="SMGUARD_", extra="ignore")

    console_public_url: str = "http://127.0.0.1:8100"
    """Where browsers reach the console: the sign-in callback's address, and whether cookies are Secure (https)."""
    console_session_hours: float = Field(default=8.0, gt=0, le=24)
    """A session ends this long after sign-in (and no later than the token it holds expires)."""
    console_max_sessions: int = Field(default=10_000, ge=10)
    """Sessions kept at once; beyond it the least recently used is signed out."""
    console_page_size: int = Field(default=50, ge=5, le=200)
    """Rows per page of every list."""
    console_feed_size: int = Field(default=200, ge=10, le=10_000)
    """Recent events the live feed keeps for a page that opens (older ones are in the audit log)."""
    console_max_streams: int = Field(default=200, ge=1, le=10_000)
    """Browsers following the live feed at once; one more gets 503 and reads the page without live updates."""
    console_api_timeout_seconds: float = Field(default=15.0, gt=0, le=120)
    """How long a page waits for a service's answer before it says the service is not answering."""
    max_bulk_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024, le=1024 * 1024 * 1024)
    """The largest bulk registration file the portal takes: the same setting (and default) the connection
    service bounds ``POST /connections/bulk`` with, so the console refuses what the service would refuse."""
    incident_url: str | None = None
    """Where the console reaches each service (``SMGUARD_INCIDENT_URL`` …); unset: this host's port of it."""
    connection_url: str | None = None
    notification_url: str | None = None
    audit_url: str | None = None
    oidc_client_id: str | None = None
    """The console's client at the identity provider (authorization code with PKCE); needed with an issuer."""
    oidc_client_secret: SecretStr | None = None
    """Only for a confidential client; a public client (PKCE alone) leaves it unset."""
    oidc_scope: str = "openid profile"

    def service_urls(self, host: str, ports: dict[str, int]) -> dict[str, str]:
        """Each service's base URL: as configured, else ``http://<host>:<port>`` (loopback when listening on all)."""
        host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        return {s: (getattr(self, f"{s}_url") or f"http://{host}:{port}").rstrip("/") for s, port in ports.items()}

    @property
    def secure_cookies(self) -> bool:
        """Cookies carry ``Secure`` whenever browsers reach the console over https."""
        return self.console_public_url.startswith("https://")
