"""Builders for backbone tests: events of the catalog with unique ids."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

from shared.events.incident import IncidentOpened, ReportOverdue


def unique(prefix: str) -> str:
    """An id no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def opened(incident_id: str, title: str = "不正アクセスの疑い") -> IncidentOpened:
    """An IncidentOpened event."""
    return IncidentOpened(
        incident_id=incident_id,
        category="unauthorized_access",
        severity="high",
        title=title,
        detected_at=datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc),
        opened_by="utility",
    )


def overdue(incident_id: str) -> ReportOverdue:
    """A ReportOverdue event."""
    return ReportOverdue(incident_id=incident_id, part="initial", due_at=datetime(2026, 11, 26, tzinfo=timezone.utc))
