"""The destination check with real name resolution: a contact's webhook host is looked up and every address judged.

The same check runs when a contact is registered and again before every delivery (a name that
resolved to a public address at registration may resolve to a private one later: DNS rebinding);
the request then goes to the very address that was checked.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Awaitable, Callable

from services.notification.application.ports import Destinations
from services.notification.domain.destinations import DestinationPolicy, IPAddress, host_of, literal

Resolve = Callable[[str, int], Awaitable[list[IPAddress]]]
LOOKUP_SECONDS = 5.0


async def system_resolve(host: str, port: int) -> list[IPAddress]:
    """The host's addresses from the system resolver; LookupError when it has none or does not answer in time."""
    loop = asyncio.get_running_loop()
    try:
        answers = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout=LOOKUP_SECONDS
        )
    except (OSError, asyncio.TimeoutError) as exc:
        raise LookupError(f"{host} does not resolve") from exc
    found = list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in answers))
    if not found:
        raise LookupError(f"{host} does not resolve")
    return found


class ResolvingDestinations(Destinations):
    """Resolves the URL's host (an IP literal is taken as it is) and applies the policy to every answer."""

    def __init__(self, policy: DestinationPolicy, *, resolve: Resolve = system_resolve) -> None:
        self.policy, self._resolve = policy, resolve

    async def vet(self, url: str) -> list[IPAddress]:
        """Every address of the host, each permitted; DestinationRefused or LookupError otherwise."""
        host, port = host_of(url)
        address = literal(host)
        addresses = [address] if address is not None else await self._resolve(host, port)
        self.policy.check(addresses)
        return addresses
