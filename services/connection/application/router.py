"""The router: what each incident event asks of the connection service, as commands for its inbox.

Stateless, as Kafka Streams' repartition step is: an anomaly becomes a command keyed by its
connection (so the instance owning that connection decides it), a vulnerability or a clearing is
sent to every partition (each owner finds its own connections by index), a credential leak
becomes one command per connection it names. Each command names its source event, whose id keys
the decision (``connection:<source event id>:<connection id>``): a command delivered twice decides once.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.connection.domain.commands import (
    ApplyPolicy,
    InboxCommand,
    MarkCompromised,
    MatchVulnerability,
    ReleaseHolds,
)
from shared.envelope import Envelope
from shared.events.incident import AnomalyAttached, AnomalyDetected, IncidentCleared, IncidentOpened, VulnerabilityDeclared


@dataclass(frozen=True)
class Routed:
    """A command and the key of the connection it is for (None: for every partition)."""

    key: str | None
    command: InboxCommand


def route(envelope: Envelope) -> list[Routed]:
    """The commands one incident event calls for (none for most)."""
    event = envelope.event
    about = {
        "source": envelope.id, "incident_id": getattr(event, "incident_id", ""), "at": envelope.time,
        "correlation_id": envelope.correlation_id or envelope.id, "traceparent": envelope.traceparent,
    }  # fmt: skip
    if isinstance(event, (AnomalyDetected, AnomalyAttached)):
        command = ApplyPolicy(connection_id=event.connection_id, reason=event.anomaly_type, **about)
        return [Routed(event.connection_id, command)]
    if isinstance(event, VulnerabilityDeclared):
        criteria = event.model_dump(include={"asset_kind", "maker", "model", "firmware", "smart_meter_ids"})
        return [Routed(None, MatchVulnerability(**criteria, **about))]
    if isinstance(event, IncidentCleared):
        return [Routed(None, ReleaseHolds(**about))]
    if isinstance(event, IncidentOpened) and event.category == "credential_leak":
        named = {asset.id for asset in event.affected_assets} | ({event.connection_id} if event.connection_id else set())
        reporter = {"opened_by": event.opened_by, "reporter": event.operator_id}
        return [Routed(c, MarkCompromised(connection_id=c, **reporter, **about)) for c in sorted(named)]
    return []
