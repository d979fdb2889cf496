"""The aggregate base: state changes only by applying events; decisions record new ones."""

from __future__ import annotations

from typing import Iterable, Self

from shared.events import DomainEvent


class DomainError(Exception):
    """A command that the rules refuse; ``code`` picks the HTTP status at the edge."""

    code = "invalid"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Conflict(DomainError):
    """The command does not fit the aggregate's current state (HTTP 409)."""

    code = "conflict"


class Invalid(DomainError):
    """The command's content breaks a rule (HTTP 422)."""

    code = "invalid"


class Forbidden(DomainError):
    """The caller's role or side may not do this to this object (HTTP 403)."""

    code = "forbidden"


class NotFound(DomainError):
    """No such aggregate, or not one the caller may see (HTTP 404)."""

    code = "not_found"


def not_found(what: str, ident: str) -> NotFound:
    """The 404 for an object that does not exist or belongs to another tenant (the same answer)."""
    return NotFound(f"{what} {ident} not found")


class Aggregate:
    """An event-sourced aggregate: rebuilt by replaying its events, changed only by ``_apply``."""

    def __init__(self, aggregate_id: str) -> None:
        self.id = aggregate_id
        self.version = 0
        self.pending: list[DomainEvent] = []

    @classmethod
    def rehydrate(cls, aggregate_id: str, events: Iterable[DomainEvent]) -> Self:
        """The aggregate as its past events left it."""
        return cls(aggregate_id).fold(events)

    def fold(self, events: Iterable[DomainEvent]) -> Self:
        """Bring the aggregate forward by events already in its stream (a projection keeps one up to date so)."""
        for event in events:
            self._apply(event)
            self.version += 1
        return self

    @property
    def exists(self) -> bool:
        """Whether the aggregate has a stream at all (subclasses say more precisely when it came to be)."""
        return self.version > 0

    def _record(self, event: DomainEvent) -> None:
        """Decide that ``event`` happens: apply it now, publish it when the handler appends."""
        self._apply(event)
        self.pending.append(event)

    def _apply(self, event: DomainEvent) -> None:  # pragma: no cover - every aggregate overrides
        raise NotImplementedError

    def take_pending(self) -> list[DomainEvent]:
        """Hand over the events decided since loading, and forget them here."""
        events, self.pending = self.pending, []
        return events
