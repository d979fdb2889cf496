"""Reactions decided in stream order and staged at once, their commits completing in the background.

The hot path (anomaly or vulnerability → block) is pipelined: each incident event is decided and its
appends staged (``store.stage`` is synchronous: later decisions see them) before the next event is
looked at, while the Kafka transactions commit in the background, a burst in one. Events whose
decisions depend on earlier reactions having landed (clearing, leaks) first wait for every staged
reaction: a barrier. When a commit fails the store forgets what it staged, so the reactions whose
commits failed are decided again, in their original order, before anything else.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Awaitable, Callable

from shared.envelope import Envelope
from shared.eventstore import AppendResult, Staged

log = logging.getLogger(__name__)
MAX_IN_FLIGHT = 2000

React = Callable[[Envelope], Awaitable[list[Staged]]]


class Pipeline:
    """Decide in stream order, stage at once, commit grouped; redo in order what failed to commit."""

    def __init__(
        self,
        react: React,
        *,
        barrier: Callable[[object], bool],
        committed: Callable[[AppendResult], None],
        retry_seconds: float = 1.0,
    ) -> None:
        """``react`` stages an event's appends; ``committed`` is told of each append once it landed."""
        self._react, self._barrier, self._committed = react, barrier, committed
        self.retry_seconds = retry_seconds
        self._in_flight: deque[tuple[Envelope, asyncio.Task[None]]] = deque()
        self._redo: list[Envelope] = []
        self._lock = asyncio.Lock()
        self._failed = False
        self._recovery: asyncio.Task[None] | None = None

    async def handle(self, envelope: Envelope) -> None:
        """React to one event, after redoing failed reactions (and, for a barrier event, after every commit)."""
        barrier = self._barrier(envelope.event)
        async with self._lock:
            await self._settle(everything=barrier)
            staged = await self._react(envelope)
            if barrier:
                await self._land(staged)
            elif staged:
                self._watch(envelope, staged)

    async def idle(self) -> None:
        """Wait for the event being handled and every staged reaction (a quiet moment, for tools and tests)."""
        async with self._lock:
            await self._settle(everything=True)

    async def start(self) -> None:
        """Nothing to start: events arrive through ``handle``."""

    async def stop(self) -> None:
        """Stop waiting for commits and redoing (what did not land is decided again at the next start)."""
        tasks = [commit for _, commit in self._in_flight] + ([self._recovery] if self._recovery else [])
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _watch(self, envelope: Envelope, staged: list[Staged]) -> None:
        commit = asyncio.create_task(self._land(staged), name=f"connection-reaction:{envelope.id}")
        commit.add_done_callback(self._landed)
        self._in_flight.append((envelope, commit))

    async def _land(self, staged: list[Staged]) -> None:
        """Wait for each staged append and tell of each that landed, even when another failed."""
        failure: Exception | None = None
        for append in staged:
            try:
                self._committed(await append.committed())
            except Exception as exc:
                failure = failure or exc
        if failure is not None:
            raise failure

    def _landed(self, commit: asyncio.Task[None]) -> None:
        if commit.cancelled() or commit.exception() is None:
            return
        self._failed = True  # redo even when no further incident event arrives to trigger it
        if self._recovery is None or self._recovery.done():
            self._recovery = asyncio.create_task(self._recover(), name="connection-reactions-redo")

    async def _settle(self, *, everything: bool) -> None:
        """Wait for commits (all, or all once one failed or too many are pending), then redo the failed ones."""
        if everything or self._failed or len(self._in_flight) >= MAX_IN_FLIGHT:
            self._failed = False
            await self._drain()
        while self._in_flight and _succeeded(self._in_flight[0][1]):
            self._in_flight.popleft()
        while self._redo:
            await self._land(await self._react(self._redo[0]))
            self._redo.pop(0)

    async def _drain(self) -> None:
        while self._in_flight:
            envelope, commit = self._in_flight.popleft()
            try:
                await commit
            except Exception:
                log.warning("a staged reaction failed to commit; it will be decided again", extra={"event_id": envelope.id})
                if envelope not in self._redo:
                    self._redo.append(envelope)

    async def _recover(self) -> None:
        while True:
            try:
                async with self._lock:
                    await self._settle(everything=False)
                return
            except Exception:
                log.warning("redoing failed reactions did not succeed yet; retrying")
                await asyncio.sleep(self.retry_seconds)


def _succeeded(commit: asyncio.Task[None]) -> bool:
    return commit.done() and not commit.cancelled() and commit.exception() is None
