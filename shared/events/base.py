"""The base of every domain event: a frozen pydantic model with a schema version and upcasters."""

from __future__ import annotations

from typing import Any, Callable, ClassVar

from pydantic import BaseModel, ConfigDict

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]

CATALOG: dict[str, type["DomainEvent"]] = {}


class UnknownEventType(LookupError):
    """A message names an event type that the catalog does not know."""


class DomainEvent(BaseModel):
    """A fact that happened; published, so a tolerant reader: unknown fields are ignored.

    Subclasses set ``topic`` (the topic constant of their aggregate type) and, when their shape
    changes, bump ``schema_version`` and add ``upcasters[old_version]`` turning the old payload
    into the next version's.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    topic: ClassVar[str]
    schema_version: ClassVar[int] = 1
    upcasters: ClassVar[dict[int, Upcaster]] = {}

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if "topic" in cls.__dict__:
            if cls.__name__ in CATALOG:
                raise TypeError(f"event type {cls.__name__} is defined twice")
            CATALOG[cls.__name__] = cls

    @classmethod
    def event_type(cls) -> str:
        """The public name of this event (the CloudEvents ``type`` suffix)."""
        return cls.__name__

    @classmethod
    def upcast(cls, payload: dict[str, Any], version: int) -> dict[str, Any]:
        """Bring a payload written at ``version`` up to the current schema version."""
        while version < cls.schema_version:
            step = cls.upcasters.get(version)
            if step is None:
                raise ValueError(f"{cls.__name__}: no upcaster from schema version {version}")
            payload = step(dict(payload))
            version += 1
        return payload


def event_class(name: str) -> type[DomainEvent]:
    """Look an event class up by its public name."""
    try:
        return CATALOG[name]
    except KeyError:
        raise UnknownEventType(f"unknown event type {name!r}") from None
