"""The report-deadline timer: checks open incidents on a clock the composition root chooses."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from services.incident.application.handlers import check_deadlines
from services.incident.application.ports import Clock
from services.incident.application.repository import IncidentRepository

log = logging.getLogger(__name__)


class DeadlineWatcher:
    """Every ``interval`` seconds, records ReportOverdue for report parts past their deadline."""

    def __init__(
        self, repo: IncidentRepository, *, clock: Clock, deadlines: dict[str, timedelta], interval: float
    ) -> None:
        self._repo, self._clock, self._deadlines, self._interval = repo, clock, deadlines, interval
        self._task: asyncio.Task[None] | None = None

    async def tick(self) -> int:
        """Check once, now (as the clock says); returns how many overdue events were recorded."""
        return await check_deadlines(self._repo, now=self._clock(), deadlines=self._deadlines)

    async def start(self) -> None:
        """Start checking in the background."""
        self._task = asyncio.create_task(self._run(), name="incident-deadlines")

    async def stop(self) -> None:
        """Stop checking."""
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:  # a broker hiccup must not stop the timer; the next tick retries
                log.exception("deadline check failed")
            await asyncio.sleep(self._interval)
