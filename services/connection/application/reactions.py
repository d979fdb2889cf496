"""The inbox: commands the router made of incident events, decided by the owner of each connection's partition.

A batch of one partition's commands is decided in order, each on the current (staged) state — a
clearing sees the block decided just before it — and staged at once, with no ``await`` in between
(a large batch — a fleet vulnerability — is staged and committed a chunk at a time: ``decide_batch``);
the batch's inbox offset is staged last (``EventStore.consumed``), so it commits with (or after)
the decisions in the partition's transactions. Then the commits are awaited: a failed one makes
the store forget what it staged, and the inbox reads the batch again, decided again in order.
Every append is keyed ``connection:<source event id>:<connection id>``, so a command delivered
twice decides once; a broadcast command decides only for the connections of its own partition.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Callable, Iterator, Sequence

from services.connection.application.service import ConnectionService
from services.connection.domain.commands import (
    ApplyPolicy,
    InboxCommand,
    MarkCompromised,
    MatchVulnerability,
    Reaction,
    ReleaseHolds,
)
from services.connection.domain.matching import VulnerabilityCriteria, affected
from services.connection.domain.model import Connection
from services.connection.domain.policy import policy_actor
from services.connection.projections.operators import policy_at
from shared.domain import DomainError
from shared.envelope import new_id
from shared.events.values import BlockReason
from shared.eventstore import Context, InboxRecord, Staged
from shared.firmware import Firmware
from shared.metrics import BLOCK_DECISIONS

log = logging.getLogger(__name__)
SYSTEM = "smguard/connection"
Decide = Callable[[Connection], object]
CHUNK = 500
"""Appends of a batch committed together at most (a fleet vulnerability's connections decided together)."""


async def decide_batch(
    service: ConnectionService, partition: int, commands: Sequence[Reaction | None], *, last: InboxRecord
) -> None:
    """Decide a partition's commands in order (None: unreadable, skipped), then commit them with the inbox offset.

    The decisions are committed ``CHUNK`` appends at a time at most, each chunk while the next is decided
    (two in flight): a vulnerability over a fleet sends its first blocks at once, memory holds two chunks
    however large the batch, and the event loop is never held for the whole of it. Every decision is
    keyed by its source event and connection, so a batch read again after a failure between chunks
    decides only what was not decided yet.
    """
    staged: list[Staged] = []
    in_flight: list[list[Staged]] = []
    for command in commands:
        if command is None:
            continue
        for decided in react(service, partition, command):
            staged += decided
            if len(staged) >= CHUNK:
                in_flight.append(staged)
                staged = []
                if len(in_flight) > 1:
                    await _committed(in_flight.pop(0))
    staged.append(service.store.consumed(last))
    await _committed([append for chunk in in_flight for append in chunk] + staged)


async def _committed(staged: list[Staged]) -> None:
    await asyncio.gather(*(append.committed() for append in staged))


def react(service: ConnectionService, partition: int, command: Reaction) -> Iterator[list[Staged]]:
    """Stage what one command calls for, a list at a time as the caller asks (synchronously within each:
    later decisions see it); a fleet vulnerability gives one list per ``CHUNK`` of its connections."""
    if isinstance(command, ApplyPolicy):
        yield apply_policy(service, command)
    elif isinstance(command, MatchVulnerability):
        yield from block_vulnerable_units(service, partition, command)
    elif isinstance(command, ReleaseHolds):
        yield release_holds(service, partition, command)
    else:
        yield mark_compromised(service, command)


def apply_policy(service: ConnectionService, command: ApplyPolicy) -> list[Staged]:
    """An anomaly: the policy in force when it was recorded blocks, recommends a block, or does nothing."""
    if not service.connections.load(command.connection_id).exists:
        log.warning(
            "anomaly names a connection this service does not know",
            extra={"connection_id": command.connection_id, "incident_id": command.incident_id},
        )
        return []
    return _by_policy(service, command, [command.connection_id], reason=command.reason)


def block_vulnerable_units(service: ConnectionService, partition: int, command: MatchVulnerability) -> Iterator[list[Staged]]:
    """This partition's connections the vulnerability concerns, by the ``serious_vulnerability`` policy: what
    each ``CHUNK`` of them staged (a chunk is staged when the caller asks for it)."""
    try:
        firmware = Firmware(command.firmware)
    except DomainError as exc:
        log.error("vulnerability criteria cannot be matched", extra={"incident_id": command.incident_id, "error": exc.message})
        return
    criteria = VulnerabilityCriteria(command.asset_kind, command.maker, command.model, firmware)
    targets = _affected(service, partition, criteria, command)
    log.info("vulnerability matched connections", extra={"incident_id": command.incident_id, "matched": len(targets)})
    for start in range(0, len(targets), CHUNK):
        yield _by_policy(service, command, targets[start : start + CHUNK], reason="serious_vulnerability")


def release_holds(service: ConnectionService, partition: int, command: ReleaseHolds) -> list[Staged]:
    """A clearing: each of this partition's connections the incident holds is released."""
    held = _on(service, partition, service.store.find("hold", command.incident_id))
    return _each(service, command, held, decide=lambda c: c.release(command.incident_id), actor=SYSTEM)


def mark_compromised(service: ConnectionService, command: MarkCompromised) -> list[Staged]:
    """A credential leak names the connection: it is compromised until its secrets are rotated.

    An operator's report marks only its own connections: another operator's named in it are left as
    they are (the report itself stands, and the SOC, who sees it, decides about the others).
    """
    reporter = command.reporting_operator

    def decide(c: Connection) -> None:
        if reporter not in (None, c.operator_id):
            log.warning(
                "a credential leak an operator reported names a connection of another operator: not marked",
                extra={"incident_id": command.incident_id, "connection_id": c.id, "reporter": reporter},
            )
        c.mark_compromised(command.incident_id, reported_by_operator=reporter)

    return _each(service, command, [command.connection_id], decide=decide, actor=SYSTEM)


def _by_policy(
    service: ConnectionService, command: InboxCommand, connection_ids: list[str], *, reason: BlockReason
) -> list[Staged]:
    """The policy in force when the source event was written decides for each connection."""
    mode = policy_at(service.views.docs, command.at).get(reason, "off")
    if mode == "off" or not connection_ids:
        BLOCK_DECISIONS.labels("off", reason).inc(len(connection_ids))
        return []
    actor = policy_actor(reason, mode)

    def decide(c: Connection) -> None:
        if mode == "auto":
            c.block_by_policy(reason=reason, incident_id=command.incident_id, decided_by=actor, request_id=new_id())
        else:
            c.recommend_block(recommendation_id=new_id(), reason=reason, incident_id=command.incident_id)

    staged = _each(service, command, connection_ids, decide=decide, actor=actor.id)
    BLOCK_DECISIONS.labels(mode, reason).inc(len(staged))  # a command read again decides nothing new: not counted
    return staged


def _each(
    service: ConnectionService, command: InboxCommand, connection_ids: list[str], *, decide: Decide, actor: str
) -> list[Staged]:
    staged = (_stage(service, command, connection_id, decide=decide, actor=actor) for connection_id in connection_ids)
    return [s for s in staged if s is not None]


def _stage(
    service: ConnectionService, command: InboxCommand, connection_id: str, *, decide: Decide, actor: str
) -> Staged | None:
    """Decide on the current (staged) state and stage the outcome under the command's idempotency key."""
    key = f"connection:{command.source}:{connection_id}"
    if service.store.seen(key):
        return None
    connection = service.connections.load(connection_id)
    if not connection.exists:
        return None
    decide(connection)
    context = Context(
        actor=actor, operator_id=connection.operator_id, correlation_id=command.correlation_id or command.source,
        causation_id=command.source, traceparent=command.traceparent,
    )  # fmt: skip
    return service.connections.stage(connection, context=context, idempotency_key=key)


def _affected(
    service: ConnectionService, partition: int, criteria: VulnerabilityCriteria, command: MatchVulnerability
) -> list[str]:
    """This partition's connections the vulnerability concerns (``matching.affected``: the one rule)."""
    store = service.store
    if not criteria.operator_side and not command.smart_meter_ids:
        log.warning("utility-side vulnerability without smart_meter_ids: no connection can be matched",
                    extra={"incident_id": command.incident_id})  # fmt: skip
    if criteria.operator_side and not (criteria.maker or criteria.model):
        log.warning("vulnerability names neither maker nor model: matching by kind and firmware only")

    def on_meters(meters: Sequence[str]) -> list[str]:
        return _on(service, partition, sorted({c for meter in meters for c in store.find("meter", meter)}))

    def candidates(model_key: str) -> Iterator[Connection]:  # one loaded at a time: memory does not follow the fleet
        return (service.connections.load(c) for c in _on(service, partition, store.find("model", model_key)))

    return affected(criteria, command.smart_meter_ids, on_meters=on_meters, candidates=candidates)


def _on(service: ConnectionService, partition: int, connection_ids: list[str]) -> list[str]:
    """The connections of one partition: a broadcast's copy on each partition decides for that partition's own."""
    return [c for c in connection_ids if service.store.partition_of(c) == partition]
