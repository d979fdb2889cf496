"""The connection service's read models as one deterministic snapshot, and the stream positions they reflect.

The snapshot is what the service shows through its GET routes: every connection as
``GET /connections/{id}`` answers it, the operators, the block policy in force, every block
recommendation (and whether ``GET /block-recommendations`` lists it) and what the service knows
of incidents. The same shape comes from the live service (``GET /ops/read-model``) and from a
replay of the topics (``services.connection.replay``), so ``smguard replay`` compares them key by
key. Connections, recommendations and incidents are keyed by id: their order across partitions
is not defined by the stream.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from aiokafka import TopicPartition
from fastapi.encoders import jsonable_encoder

from services.connection.domain.policy import POLICY_ID, BlockPolicy
from services.connection.entrypoints.present import connection_public
from services.connection.projections.directory import Directory
from services.connection.projections.incidents import IncidentInfo, ledger_snapshot
from shared.config import Settings
from shared.envelope import Envelope
from shared.topics import CONNECTION_EVENTS, INCIDENT_EVENTS, OPERATOR_EVENTS, POLICY_EVENTS

# The topics the service's own store reads at start, and the one its incident sink follows.
OWN_TOPICS = (CONNECTION_EVENTS, POLICY_EVENTS, OPERATOR_EVENTS)
INCIDENT_TOPICS = (INCIDENT_EVENTS,)
READ_MODEL_TOPICS = OWN_TOPICS + INCIDENT_TOPICS

Load = Callable[[str], list[Envelope]]


def snapshot(directory: Directory, load: Load, incidents: dict[str, IncidentInfo]) -> dict[str, Any]:
    """The read models as plain JSON data (``load`` gives a stream's events, as the store does)."""
    policy = BlockPolicy.rehydrate(POLICY_ID, [e.event for e in load(POLICY_ID)])  # as GET /block-policy does
    return jsonable_encoder({
        "connections": {
            connection_id: connection_public(view).model_dump(mode="json")
            for connection_id, view in sorted(directory.connections.items())
            if view.connection.exists
        },
        "operators": dict(sorted(directory.operators.items())),
        "block_policy": dict(policy.modes),
        "recommendations": recommendations(directory, incidents),
        "incidents": ledger_snapshot(incidents),
    })  # fmt: skip


def recommendations(directory: Directory, incidents: dict[str, IncidentInfo]) -> dict[str, dict[str, Any]]:
    """Every block recommendation; ``listed``: open and its incident not cleared (GET /block-recommendations)."""
    found = {}
    for recommendation_id, connection_id in sorted(directory.recommendations.items()):
        view = directory.connections[connection_id]
        rec = view.connection.recommendations[recommendation_id]
        cleared = incidents.get(rec.incident_id) is not None and incidents[rec.incident_id].status == "cleared"
        found[recommendation_id] = {
            "connection_id": connection_id,
            "operator_id": view.connection.operator_id,
            "reason": rec.reason,
            "incident_id": rec.incident_id,
            "status": rec.status,
            "listed": rec.status == "open" and not cleared,
        }
    return found


def positions(
    settings: Settings, own: dict[tuple[str, int], int], incident_sink: dict[TopicPartition, int]
) -> dict[str, int]:
    """``{"<topic base>/<partition>": next offset}`` from the store's committed positions and the incident sink's."""
    bases = {settings.topic(base): base for base in READ_MODEL_TOPICS}
    pairs: Iterable[tuple[tuple[str, int], int]] = [
        *own.items(),
        *(((tp.topic, tp.partition), next_offset) for tp, next_offset in incident_sink.items()),
    ]
    return {f"{bases[topic]}/{partition}": offset for (topic, partition), offset in pairs if topic in bases}
