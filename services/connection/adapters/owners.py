"""The other instances of the connection service, over HTTP: a command goes to the route of the instance owning it."""

from __future__ import annotations

import httpx

from services.connection.application.ports import OwnerRefused, Owners
from shared.http import FORWARDED_BY


class HttpOwners(Owners):
    """Posts to the owner's own route as the caller (its Authorization header), marked as forwarded once."""

    def __init__(self, *, via: str, timeout: float = 10.0) -> None:
        """``via`` names this instance in ``X-Smguard-Forwarded-By`` (the owner does not forward it again)."""
        self._via, self._timeout = via, timeout
        self._client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        """Open the HTTP client (a runtime component)."""
        self._client = httpx.AsyncClient(timeout=self._timeout)

    async def stop(self) -> None:
        """Close the HTTP client."""
        if self._client is not None:
            await self._client.aclose()

    async def approve(self, owner: str, connection_id: str, *, note: str, credentials: str) -> bool:
        """``POST {owner}/connections/{id}/approvals``; whether it reconnected, OwnerRefused with the owner's reason."""
        assert self._client is not None, "start() first"
        headers = {"Authorization": credentials, FORWARDED_BY: self._via}
        try:
            answer = await self._client.post(f"{owner}/connections/{connection_id}/approvals", json={"note": note}, headers=headers)
        except httpx.HTTPError as exc:
            raise OwnerRefused(f"the instance owning it ({owner}) did not answer: {type(exc).__name__}") from None
        if answer.status_code != 201:
            raise OwnerRefused(_reason(answer))
        return bool(answer.json().get("reconnected"))


def _reason(answer: httpx.Response) -> str:
    try:
        detail = answer.json().get("detail")
    except ValueError:
        detail = None
    return detail if isinstance(detail, str) else f"HTTP {answer.status_code} from the instance owning it"
