"""HTTP routes of the secrets key ring: what each key still seals, and re-sealing with the newest (the SOC).

Each instance answers for the connections on the partitions it owns; ``smguard secrets`` asks each.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter

from services.connection.application import secrets
from services.connection.entrypoints.api import Service
from shared.auth import Soc, SocOrAuditor
from shared.http import context_of

router = APIRouter(tags=["secrets"])


@router.get("/secrets/keys")
async def key_usage(principal: SocOrAuditor, service: Service) -> dict[str, Any]:
    """The key ids of the ring (the sealing one first) and how many connections here each one seals."""
    return secrets.usage(service)


@router.post("/secrets/reseal")
async def reseal(principal: Soc, service: Service) -> dict[str, Any]:
    """Seal every connection's current secrets here with the newest key; says what still needs each key."""
    return asdict(await secrets.reseal_all(service, context=context_of(principal)))
