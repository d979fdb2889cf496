"""How commands reach the running services: HTTP, with the token in ``SMGUARD_TOKEN``.

Without one, and only in development (no ``SMGUARD_OIDC_ISSUER``), a command mints itself a token of
the least role it needs with the development key.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any, Awaitable, Callable

import httpx

from shared.auth import TokenConfigError, mint_token
from shared.config import Settings, get_settings


def base_url(settings: Settings, service: str, instance: int = 0) -> str:
    """Where an instance of a service answers (from settings; the first by default)."""
    return f"http://{settings.host}:{settings.port_of(service, instance)}"


def bearer_token(settings: Settings, *, role: str) -> str:
    """``SMGUARD_TOKEN``; else, in development only, a token for ``role`` minted with the development key.

    TokenConfigError when an issuer is set and no token is given.
    """
    if settings.token is not None and settings.token.get_secret_value().strip():
        return settings.token.get_secret_value().strip()
    if settings.oidc_issuer:
        raise TokenConfigError(
            "set SMGUARD_TOKEN to a token from your identity provider "
            f"({settings.oidc_issuer}) with the role {role} or one that may do more"
        )
    return mint_token(settings, role=role, sub="smguard-cli")


def client(settings: Settings, service: str, *, url: str | None = None, role: str = "auditor") -> httpx.AsyncClient:
    """An HTTP client for a service, authenticated with ``SMGUARD_TOKEN`` or a development token for ``role``."""
    token = bearer_token(settings, role=role)
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
    except TokenConfigError as exc:
        print(f"smguard {command}: {exc}", file=sys.stderr)
        return 2
