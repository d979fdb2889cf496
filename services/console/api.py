"""The console's way to the four services: their public HTTP APIs, always with the signed-in user's token.

The console holds no data of its own and no privilege of its own: whatever a page shows or does, the
service behind it decided with the user's token, so every tenant rule of the APIs holds in the
console by construction. One pooled HTTP client for all users; each call carries its user's token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from shared.config import Settings
from shared.services import SERVICES

MAX_ANSWER_BYTES = 8 * 1024 * 1024
"""The largest answer a page reads from a service (a dossier is the largest thing there is)."""


@dataclass
class ApiError(Exception):
    """A service said no (status ≥ 400), or could not be reached (status 0)."""

    service: str
    status: int
    detail: str
    retry_after: str | None = None

    def __str__(self) -> str:
        return f"{self.service}: {self.status} {self.detail}"


def _detail(response: httpx.Response) -> str:
    """The service's own words (its problem detail), flattened to one readable line."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:500]
    detail = body.get("detail", body) if isinstance(body, dict) else body
    if isinstance(detail, list):  # FastAPI's validation errors: field and message, each
        return "; ".join(f"{'.'.join(str(p) for p in d.get('loc', [])[1:])}: {d.get('msg', '')}" if isinstance(d, dict) else str(d)
                         for d in detail)[:1000]  # fmt: skip
    return str(detail)[:1000]


class Services:
    """HTTP to the services, shared by every request of the console."""

    def __init__(self, settings: Settings, *, timeout: float, urls: dict[str, str] | None = None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:  # fmt: skip
        self.urls = urls or {s: f"http://127.0.0.1:{settings.port_of(s, 0)}" for s in SERVICES}
        self._client = httpx.AsyncClient(timeout=timeout, transport=transport,
                                         limits=httpx.Limits(max_connections=100, max_keepalive_connections=20))  # fmt: skip

    async def aclose(self) -> None:
        await self._client.aclose()

    def as_user(self, token: str) -> "Api":
        """Calls made with this user's token."""
        return Api(self, token)


class Api:
    """One user's calls: ``await api.get("incident", "/incidents", params=...)`` → the decoded JSON."""

    def __init__(self, services: Services, token: str) -> None:
        self._services, self._token = services, token

    async def call(self, method: str, service: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None,
                   content: bytes | None = None, headers: dict[str, str] | None = None, raw: bool = False) -> Any:  # fmt: skip
        """One request; the JSON answer (or the response itself with ``raw``); ApiError for a refusal."""
        headers = {"Authorization": f"Bearer {self._token}", **(headers or {})}
        params = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        url = self._services.urls[service] + path
        try:
            response = await self._services._client.request(method, url, json=json, params=params, content=content, headers=headers)
        except httpx.HTTPError as exc:
            raise ApiError(service, 0, f"{type(exc).__name__}: {exc}") from None
        if response.status_code >= 400:
            raise ApiError(service, response.status_code, _detail(response), response.headers.get("Retry-After"))
        if raw:
            return response
        if len(response.content) > MAX_ANSWER_BYTES:
            raise ApiError(service, 502, "the answer is larger than the console reads")
        return response.json() if response.content else None

    async def get(self, service: str, path: str, **kwargs: Any) -> Any:
        return await self.call("GET", service, path, **kwargs)

    async def post(self, service: str, path: str, **kwargs: Any) -> Any:
        return await self.call("POST", service, path, **kwargs)

    async def put(self, service: str, path: str, **kwargs: Any) -> Any:
        return await self.call("PUT", service, path, **kwargs)
