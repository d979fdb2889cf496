"""Reactions to the incident service's events: block policy, fleet-wide blocks, clearing, leaks.

Each reaction loads the connections concerned, lets them decide and stages the outcome without an
``await`` in between, and returns what it staged: the pipeline (``application/pipeline.py``) decides
whether to wait for the commit. Every append carries ``idempotency_key =
connection:<source event id>:<connection id>`` and the domain allows one block or recommendation per
connection and incident, so a replayed or redelivered incident event adds nothing. The policy
applied is the one in force when the source event was written, so a replay after a policy change
decides as the first time did.
"""

from __future__ import annotations

import logging
from typing import Callable

from services.connection.application.service import ConnectionService
from services.connection.domain.matching import VulnerabilityCriteria
from services.connection.domain.model import Connection
from services.connection.domain.policy import policy_actor
from services.connection.projections.directory import Directory
from services.connection.projections.incidents import track
from shared.domain import DomainError
from shared.envelope import Envelope, new_id
from shared.events.incident import AnomalyAttached, AnomalyDetected, IncidentCleared, IncidentOpened, VulnerabilityDeclared
from shared.events.values import BlockReason
from shared.eventstore import Context, Staged
from shared.firmware import Firmware

log = logging.getLogger(__name__)
CONSUMER = "connection"
SYSTEM = "smguard/connection"


async def react(service: ConnectionService, envelope: Envelope) -> list[Staged]:
    """Take an incident event into the ledger, then stage the reaction it calls for."""
    event = envelope.event
    track(service.incidents, event)
    if isinstance(event, IncidentOpened) and event.category == "credential_leak":
        return await mark_compromised(service, envelope)
    if isinstance(event, (AnomalyDetected, AnomalyAttached)):
        return await block_for_anomaly(service, envelope)
    if isinstance(event, VulnerabilityDeclared):
        return await block_vulnerable_units(service, envelope)
    if isinstance(event, IncidentCleared):
        return await release_blocks(service, envelope)
    return []


def needs_barrier(event: object) -> bool:
    """Clearing and leaks decide on blocks that must have landed first."""
    return isinstance(event, IncidentCleared) or (isinstance(event, IncidentOpened) and event.category == "credential_leak")


async def block_for_anomaly(service: ConnectionService, envelope: Envelope) -> list[Staged]:
    """The block policy for the anomaly's type decides: block, recommend a block, or nothing."""
    event = envelope.event
    assert isinstance(event, (AnomalyDetected, AnomalyAttached))
    if service.directory.get(event.connection_id) is None:
        log.warning(
            "anomaly names a connection this service does not know",
            extra={"connection_id": event.connection_id, "incident_id": event.incident_id},
        )
        return []
    return _by_policy(service, envelope, [event.connection_id], reason=event.anomaly_type, incident_id=event.incident_id)


async def block_vulnerable_units(service: ConnectionService, envelope: Envelope) -> list[Staged]:
    """Every matching connection of every operator, by the ``serious_vulnerability`` policy."""
    event = envelope.event
    assert isinstance(event, VulnerabilityDeclared)
    try:
        firmware = Firmware(event.firmware)
    except DomainError as exc:
        log.error("vulnerability criteria cannot be matched", extra={"incident_id": event.incident_id, "error": exc.message})
        return []
    criteria = VulnerabilityCriteria(asset_kind=event.asset_kind, maker=event.maker, model=event.model, firmware=firmware)
    targets = _affected(service.directory, criteria, event)
    log.info("vulnerability matched connections", extra={"incident_id": event.incident_id, "matched": len(targets)})
    return _by_policy(service, envelope, targets, reason="serious_vulnerability", incident_id=event.incident_id)


async def release_blocks(service: ConnectionService, envelope: Envelope) -> list[Staged]:
    """The incident was cleared: each connection it holds is released (``still_blocking`` names the rest)."""
    event = envelope.event
    assert isinstance(event, IncidentCleared)
    directory = service.directory
    held = directory.by_incident.get(event.incident_id, set()) | set(event.connection_ids)
    known = sorted(c for c in held if c in directory.connections)
    return _each(service, envelope, known, decide=lambda c: c.release(event.incident_id), actor=SYSTEM)


async def mark_compromised(service: ConnectionService, envelope: Envelope) -> list[Staged]:
    """A credential leak: the connections it names (by ``connection_id`` or an affected asset) are compromised."""
    event = envelope.event
    assert isinstance(event, IncidentOpened)
    named = {event.connection_id} if event.connection_id else set()
    named |= {asset.id for asset in event.affected_assets}
    connections = service.directory.connections
    known = sorted(c for c in named if c in connections)
    return _each(service, envelope, known, decide=lambda c: c.mark_compromised(event.incident_id), actor=SYSTEM)


def _by_policy(
    service: ConnectionService, envelope: Envelope, connection_ids: list[str], *, reason: BlockReason, incident_id: str
) -> list[Staged]:
    """The policy in force when the source event was written decides for each connection."""
    mode = service.directory.policy_at(envelope.time).get(reason, "off")
    if mode == "off":
        return []
    actor = policy_actor(reason, mode)

    def decide(c: Connection) -> None:
        if mode == "auto":
            c.block_by_policy(reason=reason, incident_id=incident_id, decided_by=actor, request_id=new_id())
        else:
            c.recommend_block(recommendation_id=new_id(), reason=reason, incident_id=incident_id)

    return _each(service, envelope, connection_ids, decide=decide, actor=actor.id)


def _each(
    service: ConnectionService, envelope: Envelope, connection_ids: list[str], *,
    decide: Callable[[Connection], object], actor: str,
) -> list[Staged]:
    staged = [_stage(service, envelope, connection_id, decide=decide, actor=actor) for connection_id in connection_ids]
    return [s for s in staged if s is not None]


def _stage(
    service: ConnectionService, envelope: Envelope, connection_id: str, *, decide: Callable[[Connection], object],
    actor: str,
) -> Staged | None:
    """Decide on the current (staged) state and stage the outcome under the reaction's idempotency key."""
    key = f"{CONSUMER}:{envelope.id}:{connection_id}"
    if service.store.seen(key):
        return None
    connection = service.connections.load(connection_id)
    decide(connection)
    context = Context(
        actor=actor,
        operator_id=connection.operator_id,
        correlation_id=envelope.correlation_id or envelope.id,
        causation_id=envelope.id,
        traceparent=envelope.traceparent,
    )
    return service.connections.stage(connection, context=context, idempotency_key=key)


def _affected(directory: Directory, criteria: VulnerabilityCriteria, event: VulnerabilityDeclared) -> list[str]:
    """Utility-side kinds match the connections on the listed smart meters; operator-side ones by criteria."""
    if not criteria.operator_side:
        if not event.smart_meter_ids:
            log.warning(
                "utility-side vulnerability without smart_meter_ids: no connection can be matched",
                extra={"incident_id": event.incident_id},
            )
        return sorted({c for meter in event.smart_meter_ids for c in directory.by_meter.get(meter, set())})
    if not (criteria.maker or criteria.model):
        log.warning("vulnerability names neither maker nor model: matching by kind and firmware only")
    return [
        view.connection.id
        for view in directory.of_operator(None)
        if criteria.matches(
            kind=view.connection.kind, maker=view.connection.maker, model=view.connection.model,
            firmware=view.connection.firmware,
        )
    ]
