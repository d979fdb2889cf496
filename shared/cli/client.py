"""How commands reach the running services: HTTP, with a development token minted with the local key."""

from __future__ import annotations

import asyncio
import sys
from typing import Any, Awaitable, Callable

import httpx

from shared.auth import mint_token
from shared.config import Settings, get_settings


def base_url(settings: Settings, service: str, instance: int = 0) -> str:
    """Where an instance of a service answers (from settings; the first by default)."""
    return f"http://{settings.host}:{settings.port_of(service, instance)}"


def client(settings: Settings, service: str, *, url: str | None = None, role: str = "auditor") -> httpx.AsyncClient:
    """An HTTP client for a service, authenticated with a token for ``role``."""
    token = mint_token(settings, role=role, sub="smguard-cli")
    return httpx.AsyncClient(
        base_url=url or base_url(settings, service), headers={"Authorization": f"Bearer {token}"}, timeout=120.0
    )


def run_command(
    command: str, run: Callable[[Settings, Any], Awaitable[int]], args: Any, settings: Settings | None = None
) -> int:
    """Run a command's coroutine; exit 2 with one clear line when a service cannot be reached."""
    try:
        return asyncio.run(run(settings or get_settings(), args))
    except httpx.HTTPError as exc:
        print(f"smguard {command}: cannot reach the service: {exc}", file=sys.stderr)
        return 2
