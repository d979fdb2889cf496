"""The notification service's read models as one deterministic snapshot, and the stream positions they reflect.

The snapshot is what the service shows through its GET routes: every notification (status,
attempts, recipient, route, channels, the domain event it tells of, acknowledgement, escalation)
and every operator's contacts. The same shape comes from the live views (``GET /ops/read-model``)
and from a replay of the topics (``services.notification.replay``), so ``smguard replay`` compares
them key by key. Notifications and operators are keyed by id: their order across partitions is
not defined by the stream; the lists inside one notification are in its own stream's order.
"""

from __future__ import annotations

from typing import Any

from fastapi.encoders import jsonable_encoder

from shared.config import Settings
from shared.topics import CONTACT_EVENTS, NOTIFICATION_EVENTS
from services.notification.projections.views import Views, ViewSink

# The topics the live views are fed from (bootstrap subscribes the ViewSink to the same).
READ_MODEL_TOPICS = (CONTACT_EVENTS, NOTIFICATION_EVENTS)


def snapshot(views: Views) -> dict[str, Any]:
    """Both views as plain JSON data: a copy, sorted by notification id and by operator and contact kind."""
    return jsonable_encoder({
        "notifications": dict(sorted(views.notifications.items())),
        "contacts": {op: dict(sorted(kinds.items())) for op, kinds in sorted(views.contacts.items())},
    })  # fmt: skip


def positions(settings: Settings, sink: ViewSink) -> dict[str, int]:
    """``{"<topic base>/<partition>": next offset}`` the views have applied (partitions with nothing applied: absent)."""
    bases = {settings.topic(base): base for base in READ_MODEL_TOPICS}
    return {
        f"{bases[tp.topic]}/{tp.partition}": next_offset
        for tp, next_offset in sink.resume_positions().items()
        if tp.topic in bases
    }


def live_read_model(settings: Settings, sink: ViewSink) -> dict[str, Any]:
    """Positions and snapshot taken together, with no await between them (nothing is applied meanwhile)."""
    return {"positions": positions(settings, sink), "read_models": snapshot(sink.views)}
