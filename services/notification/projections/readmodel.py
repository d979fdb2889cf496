"""The notification service's read models as one deterministic snapshot, for ``smguard replay`` to compare.

The snapshot is what the service shows through its GET routes: every notification (status,
attempts, recipient, route, channels, the domain event it tells of, acknowledgement, escalation)
and every operator's contacts. The live views (``GET /ops/read-model``) and a replay of the topics
(``READ_MODELS`` in the bootstrap) give the same shape, compared key by key. Notifications and
operators are keyed by id: their order across partitions is not defined by the stream; the lists
inside one notification are in its own stream's order.
"""

from __future__ import annotations

from typing import Any

from pydantic_core import to_jsonable_python

from services.notification.projections.views import Views


def snapshot(views: Views) -> dict[str, Any]:
    """Both views as plain JSON data: a copy, sorted by notification id and by operator and contact kind."""
    return to_jsonable_python({
        "notifications": dict(sorted(views.notifications.items())),
        "contacts": {op: dict(sorted(kinds.items())) for op, kinds in sorted(views.contacts.items())},
    })  # fmt: skip
