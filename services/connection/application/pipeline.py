"""Reactions that stage their appends at once and let them commit in the background.

The hot path (anomaly or vulnerability → block) is pipelined: a reaction is decided and staged in
the store at once (later decisions see it) and its Kafka transaction commits in the background,
grouped with others. Events whose decisions depend on earlier ones landing (clearing, leaks) wait
for every staged reaction first. If a staged reaction fails to commit, the reactions that failed
are decided again, in their original order, before anything else.
"""

from __future__ import annotations

import abc
import asyncio
import logging
from collections import deque
from typing import Any, Coroutine

from shared.envelope import Envelope

log = logging.getLogger(__name__)
MAX_IN_FLIGHT = 2000


class StagedReactions(abc.ABC):
    """Decide in stream order, stage at once, commit grouped; redo in order what failed to commit."""

    def __init__(self) -> None:
        self._in_flight: deque[tuple[Envelope, asyncio.Future[Any]]] = deque()
        self._redo: list[Envelope] = []
        self._lock = asyncio.Lock()
        self.retry_seconds = 1.0
        self._failed = False

    @abc.abstractmethod
    async def _dispatch(self, envelope: Envelope, event: object, *, wait: bool = False) -> None:
        """React to one event; ``wait`` makes every append commit before returning."""

    def _needs_barrier(self, event: object) -> bool:
        """Whether this event's decisions need every staged reaction to have committed."""
        return False

    async def stage(self, envelope: Envelope, commit: Coroutine[Any, Any, Any], *, wait: bool) -> None:
        """Run an append whose events the store stages in its first step; await it only when asked."""
        task = asyncio.ensure_future(commit)
        await asyncio.sleep(0)  # the task's first step stages the events: later decisions see them
        if wait:
            await task
        else:
            task.add_done_callback(self._committed)
            self._in_flight.append((envelope, task))

    async def handle(self, envelope: Envelope) -> None:
        """Dispatch one event (after redoing reactions whose commit failed)."""
        async with self._lock:
            await self._settle()
            event = envelope.event
            if self._needs_barrier(event):
                await self.drain()
            await self._dispatch(envelope, event)

    async def idle(self) -> None:
        """Wait for the event being handled and every staged reaction (for tools and tests)."""
        async with self._lock:
            await self.drain()

    async def drain(self) -> None:
        """Wait until every staged reaction has committed (or failed, to be redone)."""
        while self._in_flight:
            envelope, task = self._in_flight.popleft()
            try:
                await task
            except Exception:
                log.warning("a staged reaction failed to commit; it will be decided again", extra={"event_id": envelope.id})
                if envelope not in self._redo:
                    self._redo.append(envelope)

    def _committed(self, task: asyncio.Future[object]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self._failed = True
            asyncio.ensure_future(self._recover())

    async def _recover(self) -> None:
        """Redo failed reactions even when no further incident event arrives."""
        while True:
            try:
                async with self._lock:
                    await self._settle()
                return
            except Exception:
                log.warning("redoing failed reactions did not succeed yet; retrying")
                await asyncio.sleep(self.retry_seconds)

    async def _settle(self) -> None:
        if self._failed or len(self._in_flight) >= MAX_IN_FLIGHT:
            self._failed = False
            await self.drain()
        while self._in_flight and _succeeded(self._in_flight[0][1]):
            self._in_flight.popleft()
        while self._redo:
            await self._dispatch(self._redo[0], self._redo[0].event, wait=True)
            self._redo.pop(0)


def _succeeded(task: asyncio.Future[Any]) -> bool:
    return task.done() and not task.cancelled() and task.exception() is None
