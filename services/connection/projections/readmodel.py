"""The connection service's read models as one deterministic snapshot, live or rebuilt from the topics.

The snapshot is what the GET routes show: every connection as ``GET /connections/{id}`` answers
it, the operators, the block policy in force, every block recommendation (and whether
``GET /block-recommendations`` lists it) and what the service knows of incidents. The live service
shows it at ``GET /ops/read-model``; ``Replayed`` builds it from the topics, so ``smguard replay``
compares them key by key (connections, recommendations and incidents are keyed by id: their order
across partitions is not defined by the stream).
"""

from __future__ import annotations

import logging
from typing import Any

from services.connection.projections.directory import Directory
from services.connection.projections.incidents import IncidentInfo, IncidentLedger, ledger_snapshot
from services.connection.projections.public import connection_public, recommendations
from shared.config import Settings
from shared.envelope import DecodeError, Position, decode
from shared.eventstore.index import StreamIndex
from shared.replay import Record, SinkProjector
from shared.topics import INCIDENT_EVENTS

log = logging.getLogger(__name__)


def snapshot(directory: Directory, incidents: dict[str, IncidentInfo]) -> dict[str, Any]:
    """The read models as plain JSON data."""
    return {
        "connections": {
            connection_id: connection_public(view)
            for connection_id, view in sorted(directory.connections.items())
            if view.connection.exists
        },
        "operators": dict(sorted(directory.operators.items())),
        "block_policy": directory.policy_at(None),
        "recommendations": recommendations(directory, incidents),
        "incidents": ledger_snapshot(incidents),
    }


class Replayed:
    """The read models rebuilt from the topics, as the live service builds them; nothing is produced or sent.

    The own topics are read as the event store reads them at start (every decodable record, in order
    per stream) into a scratch stream index, then folded into a fresh directory; the incident topic
    goes through the live subscriber's code into a fresh incident ledger, without reacting.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._streams = StreamIndex("smguard/connection-replay")
        self._ledger = IncidentLedger()
        self._incidents = SinkProjector(settings, {INCIDENT_EVENTS: self._ledger}, snapshot=dict)

    async def feed(self, record: Record) -> None:
        """An incident record to the ledger; an own one to the stream index (unreadable ones skipped, as the store does)."""
        if record.topic == INCIDENT_EVENTS:
            await self._incidents.feed(record)
            return
        position = Position(self._settings.topic(record.topic), record.partition, record.offset)
        try:
            self._streams.add([decode(record.value, position=position)])
        except DecodeError as exc:
            log.warning("skipped an unreadable record in an event topic", extra={"reason": str(exc)})

    async def finish(self) -> dict[str, Any]:
        """Retry parked incident events (the live subscriber does too), fold the directory, take the snapshot."""
        await self._incidents.finish()
        directory = Directory()
        for envelope in self._streams.since(0):
            directory.fold(envelope)
        return snapshot(directory, self._ledger.incidents)
