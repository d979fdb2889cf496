"""How the audit commands reach running services: HTTP with a development auditor token."""

from __future__ import annotations

import asyncio
import sys
from typing import Any, Awaitable, Callable

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


def run_command(
    command: str, run: Callable[[Settings, Any], Awaitable[int]], args: Any, settings: Settings | None = None
) -> int:
    """Run a command's coroutine; exit 2 with one clear line when the service cannot be reached."""
    from shared.config import get_settings

    try:
        return asyncio.run(run(settings or get_settings(), args))
    except httpx.HTTPError as exc:
        print(f"smguard {command}: cannot reach the audit service: {exc}", file=sys.stderr)
        return 2
