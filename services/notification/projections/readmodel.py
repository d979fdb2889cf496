"""The notification service's read models as one deterministic snapshot, for ``smguard replay`` to compare.

The snapshot is what the service shows and decides with: every notification (status, attempts,
recipient, route, channels, the domain event it tells of, acknowledgement, escalation, and a
coalesced notice's group and members), every
operator's contacts, and the router's knowledge of incidents and connections. The live read
models (``GET /ops/read-model``) and a replay of the topics (``READ_MODELS`` in the bootstrap)
give the same shape, compared key by key. Everything is keyed by id; the operators an incident
concerns are sorted, since the order they became known in depends on how two topics interleave.
"""

from __future__ import annotations

from typing import Any

from services.notification.projections.knowledge import CONNECTIONS, INCIDENTS, OPERATORS, Knowledge
from services.notification.projections.views import CONTACTS, MEMBERS, NOTIFICATIONS, NotificationViews


def snapshot(views: NotificationViews, knowledge: Knowledge) -> dict[str, Any]:
    """Every read model as plain JSON data, sorted by id (and contacts by kind)."""
    concerned: dict[str, list[str]] = {}
    for _, row in knowledge.docs.every(OPERATORS):
        concerned.setdefault(row["incident_id"], []).append(row["operator_id"])
    return {
        "notifications": dict(views.docs.every(NOTIFICATIONS)),
        "notification_members": dict(views.docs.every(MEMBERS)),
        "contacts": {op: dict(sorted(kinds.items())) for op, kinds in views.docs.every(CONTACTS)},
        "incidents": dict(knowledge.docs.every(INCIDENTS)),
        "incident_operators": {incident: sorted(ops) for incident, ops in sorted(concerned.items())},
        "connections": dict(knowledge.docs.every(CONNECTIONS)),
    }
