"""Reactions to the incident service's events: block policy, fleet-wide blocks, clearing, leaks.

Every append carries ``idempotency_key = connection:<source event id>:<connection id>``, and the
domain refuses a second block/recommendation per connection and incident, so a replayed or
redelivered incident event adds nothing. The policy applied is the one in force when the source
event was written, so a replay after a policy change decides as the first time did.
"""

from __future__ import annotations

import logging
from typing import Callable

from services.connection.application.handlers import ConnectionHandlers
from services.connection.application.pipeline import StagedReactions
from services.connection.domain.connection import Connection
from services.connection.domain.matching import FirmwareMatcher, VulnerabilityCriteria
from services.connection.domain.policy import policy_actor
from services.connection.projections.incidents import IncidentInfo, track
from shared.domain import DomainError
from shared.envelope import Envelope, new_id
from shared.eventstore import Context
from shared.events.incident import (
    AnomalyAttached,
    AnomalyDetected,
    IncidentCleared,
    IncidentOpened,
    VulnerabilityDeclared,
)
from shared.events.values import BlockReason

log = logging.getLogger(__name__)
CONSUMER = "connection"


class IncidentReactions(StagedReactions):
    """Decides what the connection service does when the incident service tells something."""

    def __init__(self, handlers: ConnectionHandlers) -> None:
        self.handlers = handlers
        self.directory = handlers.directory
        self.incidents: dict[str, IncidentInfo] = {}
        super().__init__()

    def _needs_barrier(self, event: object) -> bool:
        """Clearing and leaks decide on blocks that must have landed first."""
        return isinstance(event, IncidentCleared) or getattr(event, "category", None) == "credential_leak"

    async def _dispatch(self, envelope: Envelope, event: object, *, wait: bool = False) -> None:
        track(self.incidents, event)  # the same ledger a replay folds (projections.incidents)
        if isinstance(event, IncidentOpened) and event.category == "credential_leak":
            await self._credential_leak(envelope, event)
        elif isinstance(event, (AnomalyDetected, AnomalyAttached)):
            await self._anomaly(envelope, event, wait=wait)
        elif isinstance(event, VulnerabilityDeclared):
            await self._vulnerability(envelope, event, wait=wait)
        elif isinstance(event, IncidentCleared):
            await self._cleared(envelope, event)

    def cleared(self, incident_id: str) -> bool:
        """Whether the incident is known to be cleared."""
        info = self.incidents.get(incident_id)
        return info is not None and info.status == "cleared"

    # ------------------------------------------------------------------ the hot path

    async def _anomaly(self, envelope: Envelope, event: AnomalyDetected | AnomalyAttached, *, wait: bool) -> None:
        view = self.directory.connections.get(event.connection_id)
        if view is None or not view.connection.exists:
            log.warning(
                "anomaly names a connection this service does not know",
                extra={"connection_id": event.connection_id, "incident_id": event.incident_id},
            )
            return
        await self._apply_policy(
            envelope, event.connection_id, reason=event.anomaly_type, incident_id=event.incident_id, wait=wait
        )

    async def _apply_policy(
        self, envelope: Envelope, connection_id: str, *, reason: BlockReason, incident_id: str, wait: bool
    ) -> None:
        mode = self.directory.policy_at(envelope.time).get(reason, "off")
        if mode == "off":
            return
        actor = policy_actor(reason, mode)
        request_id, recommendation_id = new_id(), new_id()

        def decide(c: Connection) -> None:
            if mode == "auto":
                c.block_by_policy(reason=reason, incident_id=incident_id, decided_by=actor, request_id=request_id)
            else:
                c.recommend_block(recommendation_id=recommendation_id, reason=reason, incident_id=incident_id)

        await self._react(envelope, connection_id, decide, actor=actor.id, wait=wait)

    async def _react(
        self, envelope: Envelope, connection_id: str, decide: Callable[[Connection], object], *, actor: str, wait: bool
    ) -> None:
        """Decide on the current (staged) state; stage the events now, commit in the background."""
        key = f"{CONSUMER}:{envelope.id}:{connection_id}"
        if self.handlers.store.seen(key):
            return
        connection = self.handlers.load(Connection, connection_id)
        decide(connection)
        events = connection.take_pending()
        if not events:
            return
        context = Context(
            actor=actor,
            operator_id=connection.operator_id,
            correlation_id=envelope.correlation_id or envelope.id,
            causation_id=envelope.id,
            traceparent=envelope.traceparent,
        )
        commit = self.handlers.commit(
            connection_id, events, expected_version=connection.version, idempotency_key=key, context=context
        )
        await self.stage(envelope, commit, wait=wait)

    # ------------------------------------------------------------------ fleet-wide

    async def _vulnerability(self, envelope: Envelope, event: VulnerabilityDeclared, *, wait: bool) -> None:
        try:
            criteria = VulnerabilityCriteria(
                asset_kind=event.asset_kind,
                maker=event.maker,
                model=event.model,
                firmware=FirmwareMatcher(event.firmware),
            )
        except DomainError as exc:
            log.error("vulnerability criteria cannot be matched", extra={"incident_id": event.incident_id, "error": exc.message})
            return
        targets = self._affected(criteria, event)
        log.info(
            "vulnerability matched connections",
            extra={"incident_id": event.incident_id, "matched": len(targets)},
        )
        for connection_id in targets:
            await self._apply_policy(
                envelope, connection_id, reason="serious_vulnerability", incident_id=event.incident_id, wait=wait
            )

    def _affected(self, criteria: VulnerabilityCriteria, event: VulnerabilityDeclared) -> list[str]:
        if not criteria.operator_side:
            if not event.smart_meter_ids:
                log.warning(
                    "utility-side vulnerability without smart_meter_ids: no connection can be matched",
                    extra={"incident_id": event.incident_id},
                )
            meters = [self.directory.by_meter.get(m, set()) for m in event.smart_meter_ids]
            return sorted(set().union(*meters)) if meters else []
        if not (criteria.maker or criteria.model):
            log.warning("vulnerability names neither maker nor model: matching by kind and firmware only")
        return [
            view.connection.id
            for view in self.directory.of_operator(None)
            if criteria.matches(
                kind=view.connection.kind,
                maker=view.connection.maker,
                model=view.connection.model,
                firmware=view.connection.firmware,
            )
        ]

    # ------------------------------------------------------------------ clearing and leaks

    async def _cleared(self, envelope: Envelope, event: IncidentCleared) -> None:
        targets = self.directory.by_incident.get(event.incident_id, set()) | set(event.connection_ids)
        for connection_id in sorted(targets):
            if connection_id in self.directory.connections:
                await self._react(
                    envelope, connection_id, lambda c: c.release(event.incident_id), actor="smguard/connection", wait=True
                )

    async def _credential_leak(self, envelope: Envelope, event: IncidentOpened) -> None:
        named = {event.connection_id} if event.connection_id else set()
        named |= {asset.id for asset in event.affected_assets}
        for connection_id in sorted(named):
            if connection_id in self.directory.connections:
                await self._react(
                    envelope, connection_id, lambda c: c.mark_compromised(event.incident_id),
                    actor="smguard/connection", wait=True,
                )
