"""Keeping something derived from a store's own events up to date, incrementally."""

from __future__ import annotations

from typing import Callable

from shared.envelope import Envelope
from shared.eventstore.ports import EventStore


class Follower:
    """Folds each event of a store once, in order; starts over when the store re-read its topics.

    For indexes a service decides with (open incidents per connection, notifications not settled
    yet, …): ``catch_up()`` before reading them and they include every staged event. After a failed
    commit the store forgets what it staged and reads its topics again; the next ``catch_up()``
    then calls ``reset`` and folds everything anew, so an index never keeps what never landed.
    """

    def __init__(self, store: EventStore, *, fold: Callable[[Envelope], None], reset: Callable[[], None]) -> None:
        self._store, self._fold, self._reset = store, fold, reset
        self._generation: int | None = None
        self._cursor = 0

    def catch_up(self) -> None:
        """Fold the events staged or read since the last call."""
        if self._generation != self._store.generation:
            self._generation, self._cursor = self._store.generation, 0
            self._reset()
        for envelope in self._store.since(self._cursor):
            self._fold(envelope)
            self._cursor += 1
