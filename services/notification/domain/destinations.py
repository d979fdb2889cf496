"""Where a contact's webhook may point: public addresses only, unless the utility allows more. Pure, no I/O.

A webhook URL is a request the utility's own network makes on an operator's say-so: pointed at a
private, loopback, link-local, multicast, reserved or unspecified address (IPv4 or IPv6, the IPv4
inside an IPv6 address included) it would reach into that network (SSRF). Such addresses are
refused unless a setting allows them: ``SMGUARD_WEBHOOK_ALLOW_PRIVATE=true`` (any) or
``SMGUARD_WEBHOOK_ALLOWED_CIDRS`` (these networks only; development allows loopback this way).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
REFUSED = (
    "webhook_url is refused: it points to a private, loopback, link-local, multicast, reserved or unspecified "
    "address, which this service does not call (the utility can allow networks with SMGUARD_WEBHOOK_ALLOWED_CIDRS)"
)


class DestinationRefused(ValueError):
    """A URL this service will not call; the message says why without naming any address."""


def parse_networks(text: str) -> tuple[IPNetwork, ...]:
    """Comma-separated CIDRs (``127.0.0.0/8,::1/128``); ValueError naming a bad one."""
    networks = []
    for part in (p.strip() for p in text.split(",")):
        if part:
            try:
                networks.append(ipaddress.ip_network(part, strict=False))
            except ValueError:
                raise ValueError(f"not a CIDR network: {part!r}") from None
    return tuple(networks)


def effective(address: IPAddress) -> list[IPAddress]:
    """The addresses a request to ``address`` really reaches: the IPv4 of a mapped one; the IPv6 address and
    any IPv4 it carries (NAT64, 6to4, Teredo) otherwise."""
    if isinstance(address, ipaddress.IPv4Address):
        return [address]
    if address.ipv4_mapped:
        return [address.ipv4_mapped]
    found: list[IPAddress] = [address]
    if address in NAT64:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    if address.sixtofour:
        found.append(address.sixtofour)
    if address.teredo:
        found.extend(address.teredo)
    return found


def is_public(address: IPAddress) -> bool:
    """A globally routable unicast address, and so is every address it carries."""
    return all(a.is_global and not a.is_multicast for a in effective(address))


@dataclass(frozen=True)
class DestinationPolicy:
    """Which addresses a contact's webhook may reach: public ones, plus what the settings allow."""

    allow_private: bool = False
    allowed: tuple[IPNetwork, ...] = ()

    def permits(self, address: IPAddress) -> bool:
        """Whether a request to ``address`` may be made."""
        if self.allow_private:
            return True
        return all(
            (a.is_global and not a.is_multicast) or any(a in net for net in self.allowed if net.version == a.version)
            for a in effective(address)
        )

    def check(self, addresses: list[IPAddress]) -> None:
        """DestinationRefused unless every address is permitted (one bad answer of a name refuses it)."""
        if not addresses or not all(self.permits(a) for a in addresses):
            raise DestinationRefused(REFUSED)


def host_of(url: str) -> tuple[str, int]:
    """The host (brackets removed) and port of an http(s) URL; DestinationRefused for anything else."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DestinationRefused("webhook_url must be an http or https URL with a host")
    if parts.username or parts.password:
        raise DestinationRefused("webhook_url must not carry a user name or password")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise DestinationRefused("webhook_url has an invalid port") from None
    return parts.hostname, port


def literal(host: str) -> IPAddress | None:
    """The address when the host is an IP literal (``127.1`` and ``0x7f.1`` forms are not: they are names)."""
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None
