"""An HTTP client for the four services with a token per principal, and polling with a deadline.

The demo plays every principal with development tokens, so it runs only without an identity provider.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import httpx

from shared.auth import TokenConfigError, mint_token
from shared.config import Settings


class DemoError(RuntimeError):
    """A step of the story did not come out as the agreement says it should."""


class Smguard:
    """Speaks to the services as the principals of the story."""

    def __init__(self, settings: Settings, urls: dict[str, str], *, timeout: float = 60.0) -> None:
        self.settings, self.urls, self.timeout = settings, urls, timeout
        self.http = httpx.Client(timeout=30)
        self._tokens: dict[tuple[str, str | None], str] = {}

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()

    def _headers(self, role: str, operator_id: str | None) -> dict[str, str]:
        key = (role, operator_id)
        if key not in self._tokens:
            sub = f"demo-{role}" + (f"-{operator_id}" if operator_id else "")
            try:
                self._tokens[key] = mint_token(self.settings, role=role, operator_id=operator_id, sub=sub)
            except TokenConfigError as exc:
                raise DemoError(f"the demo plays each principal with a development token: {exc}") from None
        return {"Authorization": f"Bearer {self._tokens[key]}"}

    def call(
        self, method: str, service: str, path: str, *, as_: str, operator: str | None = None,
        json: Any = None, params: dict[str, Any] | None = None, expect: int | tuple[int, ...] = (200, 201, 202),
    ) -> Any:
        """One request as a principal; DemoError when the status is not the expected one."""
        response = self.http.request(
            method, self.urls[service] + path, json=json, params=params, headers=self._headers(as_, operator)
        )
        wanted = (expect,) if isinstance(expect, int) else expect
        if response.status_code not in wanted:
            raise DemoError(f"{method} {service}{path} as {as_}: {response.status_code} {response.text[:500]}")
        content_type = response.headers.get("content-type", "")
        return response.json() if "json" in content_type else response.text

    def until(self, what: str, check: Callable[[], Any]) -> Any:
        """Poll ``check`` until it returns something truthy; DemoError after the timeout."""
        deadline = time.monotonic() + self.timeout
        while True:
            result = check()
            if result:
                return result
            if time.monotonic() > deadline:
                raise DemoError(f"waited {self.timeout:.0f}s for: {what}")
            time.sleep(0.2)
