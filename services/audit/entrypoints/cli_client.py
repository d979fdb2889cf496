"""How the audit commands reach running services: HTTP with a development auditor token."""

from __future__ import annotations

import httpx

from services.audit.config import AuditSettings, audit_base_url
from shared.auth import mint_token
from shared.config import Settings


def client(settings: Settings, base_url: str | None = None, *, service: str = "audit") -> httpx.AsyncClient:
    """An HTTP client for a service, authenticated as an auditor (token minted with the local key)."""
    if base_url is None:
        base_url = audit_base_url(settings, AuditSettings()) if service == "audit" else (
            f"http://{settings.host}:{settings.port_of(service)}")
    token = mint_token(settings, role="auditor", sub="smguard-cli")
    return httpx.AsyncClient(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=120.0)
