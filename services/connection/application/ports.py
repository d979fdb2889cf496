"""Ports of the connection service: sealing secrets, asking the network to enforce, reaching other instances."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Literal

from shared.events.connection import SealedSecrets


@dataclass(frozen=True)
class PlainSecrets:
    """Secrets as the caller gave them; lives only for the request (repr never shows them)."""

    auth_id: str = field(repr=False)
    password: str = field(repr=False)
    pairing_id: str = field(repr=False)


class SecretSealer(abc.ABC):
    """Turns plain secrets into what may be stored (ciphertext, keyed fingerprint, masked hints, key id), with a
    ring of keys: the first seals, all open."""

    @abc.abstractmethod
    def seal(self, secrets: PlainSecrets) -> SealedSecrets:
        """Encrypt and fingerprint with the sealing key."""

    @abc.abstractmethod
    def reseal(self, sealed: SealedSecrets) -> SealedSecrets:
        """The same secrets sealed with the sealing key; KeyError when no key of the ring opens them."""

    @abc.abstractmethod
    def sealing_key_id(self) -> str:
        """The id of the key that seals now."""

    @abc.abstractmethod
    def key_ids(self) -> list[str]:
        """Every key of the ring, the sealing one first."""


@dataclass(frozen=True)
class EnforcementCall:
    """What the network access control is asked to do (idempotent by ``request_id``)."""

    request_id: str
    action: Literal["block", "reconnect"]
    connection_id: str
    operator_id: str
    smart_meter_ids: tuple[str, ...]
    incident_id: str | None = None
    traceparent: str | None = None  # the trace of the decision that made the request (when tracing is on)


class EnforcementError(Exception):
    """The peer did not acknowledge (it is retried)."""


class EnforcementNotConfigured(EnforcementError):
    """No enforcement peer is configured: requests stay pending, nothing is recorded as enforced."""


class EnforcementPort(abc.ABC):
    """The utility's HES / network access control."""

    @abc.abstractmethod
    async def send(self, call: EnforcementCall) -> None:
        """Ask for the action; returns when acknowledged, raises EnforcementError otherwise."""

    async def close(self) -> None:
        """Release connections."""


class OwnerRefused(Exception):
    """The owning instance refused the command, or could not be reached; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Owners(abc.ABC):
    """The other instances of this service, each deciding for the connections on its partitions."""

    @abc.abstractmethod
    async def approve(self, owner: str, connection_id: str, *, note: str, credentials: str) -> bool:
        """Approve reconnection on ``owner`` (its base URL) as the caller (``credentials``: its Authorization
        header); returns whether it reconnected, raises OwnerRefused otherwise."""
