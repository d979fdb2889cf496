"""Work that runs every few seconds beside a service (timers, sweeps, checkpoints): one component for all."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable

from shared.supervision import Supervised

log = logging.getLogger(__name__)


class Periodic:
    """Runs ``tick`` every ``interval`` seconds as a runtime component; a failed tick is logged, the next one retries."""

    def __init__(
        self, name: str, tick: Callable[[], Awaitable[Any] | Any], *, interval: float, first_after: float | None = None
    ) -> None:
        """``first_after``: seconds before the first tick (default: one interval; 0 ticks at once)."""
        self.name, self._tick, self._interval = name, tick, interval
        self._first = interval if first_after is None else first_after
        self._task = Supervised(name, self._run)
        self._started = False
        self.ticks = 0

    async def start(self) -> None:
        """Start ticking in the background (watched: a timer that ends is started again)."""
        self._task.start()

    async def stop(self) -> None:
        """Stop ticking (a tick under way is cancelled)."""
        await self._task.stop()

    def supervised(self) -> list[Supervised]:
        """The timer's task."""
        return [self._task]

    async def _run(self) -> None:
        await asyncio.sleep(self._interval if self._started else self._first)
        self._started = True
        while True:
            try:
                result = self._tick()
                if asyncio.iscoroutine(result):
                    await result
            except Exception:  # a broker hiccup must not stop the timer
                log.exception("periodic task failed", extra={"task": self.name})
            self.ticks += 1
            await asyncio.sleep(self._interval)
