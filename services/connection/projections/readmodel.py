"""The connection service's read models as one deterministic snapshot, live or rebuilt from the topics.

The snapshot is what the GET routes show: every connection as ``GET /connections/{id}`` answers
it, the operators, the block policy in force, every block recommendation (and whether
``GET /block-recommendations`` lists it) and what the service knows of incidents, each keyed by
id. ``replayed`` rebuilds it from the topics into scratch read models in a temporary folder,
through the live subscriber's code: nothing is produced, enforced or unsealed.
"""

from __future__ import annotations

from typing import Any

from services.connection.projections.directory import CONNECTIONS, RECOMMENDATIONS
from services.connection.projections.incidents import INCIDENTS
from services.connection.projections.operators import operator_names, policy
from services.connection.projections.views import TOPICS, views_at
from shared.config import Settings
from shared.documents import Documents
from shared.replay import SinkProjector, scratch_dir

RECOMMENDATION_FIELDS = ("connection_id", "operator_id", "reason", "incident_id", "status", "listed")


def snapshot(docs: Documents) -> dict[str, Any]:
    """The read models as plain JSON data."""
    return {
        "connections": {key: doc["public"] for key, doc in docs.every(CONNECTIONS)},
        "operators": operator_names(docs),
        "block_policy": policy(docs),
        "recommendations": {
            key: {name: doc[name] for name in RECOMMENDATION_FIELDS} for key, doc in docs.every(RECOMMENDATIONS)
        },
        "incidents": dict(docs.every(INCIDENTS)),
    }


def replayed(settings: Settings) -> SinkProjector:
    """Scratch read models fed from the topics as the live subscriber feeds them, in a folder removed after."""
    folder = scratch_dir("connection")
    views = views_at(settings, folder)
    return SinkProjector(settings, {base: views for base in TOPICS}, snapshot=lambda: snapshot(views.docs), scratch=folder)
