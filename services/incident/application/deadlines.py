"""The report-deadline timer: checks open incidents on a clock the composition root chooses."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from services.incident.application.handlers import check_deadlines
from services.incident.application.ports import Clock
from services.incident.application.repository import IncidentRepository
from shared.periodic import Periodic

log = logging.getLogger(__name__)


class DeadlineWatcher:
    """Every ``interval`` seconds, records ReportOverdue for report parts past their deadline."""

    def __init__(
        self, repo: IncidentRepository, *, clock: Clock, deadlines: dict[str, timedelta], interval: float
    ) -> None:
        self._repo, self._clock, self._deadlines, self._interval = repo, clock, deadlines, interval
        self._timer: Periodic | None = None

    async def tick(self) -> int:
        """Check once, now (as the clock says); returns how many overdue events were recorded."""
        return await check_deadlines(self._repo, now=self._clock(), deadlines=self._deadlines)

    async def start(self) -> None:
        """Start checking in the background (at once, then every interval)."""
        self._timer = Periodic("incident-deadlines", self.tick, interval=self._interval, first_after=0)
        await self._timer.start()

    async def stop(self) -> None:
        """Stop checking."""
        if self._timer:
            await self._timer.stop()
