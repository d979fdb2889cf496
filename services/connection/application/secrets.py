"""Re-sealing: every connection's current secrets sealed again with the ring's newest key, while the service runs.

Each connection is one command through the repository (a ``SecretsResealed`` event), so the topics
stay the truth and nothing stops: registrations, rotations and blocks go on between them. An
instance re-seals the connections on the partitions it owns; ``smguard secrets`` asks every one.
What still needs a key (``usage``) tells when it can be retired.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field, replace
from typing import Any

from services.connection.application.service import ConnectionService
from shared.domain import DomainError
from shared.eventstore import Context, NotOwner

CONCURRENT = 32  # connections re-sealed side by side (each a small commit)
log = logging.getLogger(__name__)


@dataclass
class Resealing:
    """What a re-sealing did: the key it sealed with, how many it re-sealed, which it could not, and what remains."""

    sealing_key: str
    resealed: int = 0
    failed: list[dict[str, Any]] = field(default_factory=list)
    keys: dict[str, int] = field(default_factory=dict)


def usage(service: ConnectionService) -> dict[str, Any]:
    """For each key of the ring, how many connections owned here have their current secrets sealed with it."""
    keys = service.sealer.key_ids()
    return {"sealing_key": keys[0], "keys": {k: len(service.store.find("sealed_with", k)) for k in keys}}


async def reseal_all(service: ConnectionService, *, context: Context) -> Resealing:
    """Re-seal every owned connection not sealed with the sealing key; one that fails is listed, the rest go on."""
    done = Resealing(service.sealer.sealing_key_id())
    stale = [c for k in service.sealer.key_ids() if k != done.sealing_key for c in service.store.find("sealed_with", k)]
    gate = asyncio.Semaphore(CONCURRENT)

    async def one(connection_id: str) -> None:
        async with gate:
            try:
                saved = await service.connections.change(
                    connection_id, lambda c: c.reseal(service.sealer.reseal(c.secrets)),
                    context=lambda c: replace(context, operator_id=c.operator_id),
                )  # fmt: skip
            except (DomainError, NotOwner, KeyError) as exc:
                log.warning("could not re-seal a connection's secrets", extra={"connection_id": connection_id, "error": type(exc).__name__})
                done.failed.append({"id": connection_id, "reason": _reason(exc)})
            else:
                done.resealed += 1 if saved.events else 0

    await asyncio.gather(*(one(c) for c in stale))
    done.keys = usage(service)["keys"]
    return done


def _reason(exc: Exception) -> str:
    if isinstance(exc, NotOwner):
        return "its partition moved to another instance meanwhile: run again"
    if isinstance(exc, KeyError):
        return "no key of the ring opens its secrets"
    return getattr(exc, "message", type(exc).__name__)
