"""The replay protocol for the audit service: its read model built purely from the topics.

``read_models(settings, until=None, *, positions=None, progress=None)`` reads the event topics
into a scratch store in a temporary folder (never the live one; nothing is produced, nothing is
sent) and returns the same JSON snapshot as the live ``GET /ops/read-model``.
"""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from services.audit.adapters.topics import read_records
from services.audit.application.log import AuditLog
from services.audit.application.readmodel import read_model_of
from shared.config import Settings
from shared.topics import EVENT_TOPICS

Progress = Callable[[int, int], None]


async def read_models(
    settings: Settings,
    until: datetime | None = None,
    *,
    positions: dict[str, int] | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The audit log as the stream builds it: up to ``positions`` (next offset per log), or as of ``until``."""
    with tempfile.TemporaryDirectory(prefix="smguard-replay-audit-") as scratch:
        audit_log = AuditLog(Path(scratch) / "audit-log.sqlite")
        try:
            async for batch in read_records(settings, EVENT_TOPICS, until=until, positions=positions, progress=progress):
                audit_log.append(batch)
            return read_model_of(audit_log.path)
        finally:
            audit_log.close()
