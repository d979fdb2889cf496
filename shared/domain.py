"""The aggregate base: state changes only by applying events; decisions record new ones."""

from __future__ import annotations

from functools import cache
from typing import Any, ClassVar, Iterable, Self, get_origin, get_type_hints

from pydantic import TypeAdapter
from pydantic_core import to_jsonable_python

from shared.events import DomainEvent

Index = dict[str, list[str]]
"""What an aggregate is found by, besides its id: index name → values (e.g. ``{"meter": ["SM-1"]}``)."""


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
    """An event-sourced aggregate: rebuilt by replaying its events, changed only by ``_apply``.

    Its state is the public attributes it declares with class-level annotations; ``snapshot()``
    gives them as JSON data and ``restore()`` builds the aggregate from such a snapshot, so a long
    stream need not be folded again from its first event.
    """

    def __init__(self, aggregate_id: str) -> None:
        self.id = aggregate_id
        self.version = 0
        self.pending: list[DomainEvent] = []

    @classmethod
    def rehydrate(cls, aggregate_id: str, events: Iterable[DomainEvent]) -> Self:
        """The aggregate as its past events left it."""
        return cls(aggregate_id).fold(events)

    @classmethod
    def restore(cls, aggregate_id: str, version: int, state: dict[str, Any]) -> Self:
        """The aggregate as a snapshot taken at ``version`` describes it."""
        aggregate = cls(aggregate_id)
        for name, adapter in _state_adapters(cls).items():
            if name in state:
                setattr(aggregate, name, adapter.validate_python(state[name]))
        aggregate.version = version
        return aggregate

    def snapshot(self) -> dict[str, Any]:
        """The aggregate's state as plain JSON data (what ``restore`` takes back)."""
        return {name: to_jsonable_python(getattr(self, name)) for name in _state_adapters(type(self))}

    def index(self) -> Index:
        """Names the aggregate can be found by in its service (subclasses say which)."""
        return {}

    @classmethod
    def markers_of(cls, event: DomainEvent) -> list[str]:
        """Keys an event of this aggregate is recognised by again (e.g. a sensor's signal id), kept for a window."""
        return []

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


@cache
def _state_adapters(cls: type[Aggregate]) -> dict[str, TypeAdapter[Any]]:
    """The declared public state attributes of an aggregate class and how to read each back from JSON."""
    hints = get_type_hints(cls)
    return {
        name: TypeAdapter(hint)
        for name, hint in hints.items()
        if not name.startswith("_") and name not in ("id", "version", "pending") and get_origin(hint) is not ClassVar
    }
