"""Which events a SOC consumer asked for: the tenants, incidents and connections an event concerns, and filters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from shared.envelope import TYPE_PREFIX, Envelope
from shared.events import CATALOG
from shared.topics import CONNECTION_EVENTS, EVENT_TOPICS, INCIDENT_EVENTS


class UnknownType(ValueError):
    """A name that is no event type of the catalog; the message lists the valid ones."""


def event_type(name: str) -> str:
    """The catalog's name for ``name`` (``ConnectionBlocked``, or with its CloudEvents prefix); UnknownType if none."""
    bare = name.strip().removeprefix(TYPE_PREFIX)
    if bare not in CATALOG:
        raise UnknownType(f"unknown event type {name!r}; the event types are: {', '.join(sorted(CATALOG))}")
    return bare


def topics_of(types: Iterable[str]) -> tuple[str, ...]:
    """The event topics (catalog bases) that hold these event types; every event topic for none."""
    wanted = {CATALOG[name].topic for name in types}
    return tuple(topic for topic in EVENT_TOPICS if not wanted or topic in wanted)


def _members(data: dict[str, Any]) -> list[dict[str, Any]]:
    coalescing = data.get("coalescing") or {}
    return [*(data.get("members") or []), *(coalescing.get("members") or [])]


def _ids(envelope: Envelope, data: dict[str, Any], *, field: str, topic: str) -> list[str]:
    found: list[Any] = [data.get(field), *(data.get(f"{field}s") or [])]
    if type(envelope.event).topic == topic:
        found.append(envelope.subject)
    told = data.get("domain_event_type")
    if told in CATALOG and CATALOG[told].topic == topic:  # a notification tells of this aggregate's event
        found.append(data.get("subject_id"))
    found += [member.get(field) for member in _members(data)]
    return list(dict.fromkeys(str(value) for value in found if value))


def incident_ids(envelope: Envelope, data: dict[str, Any]) -> list[str]:
    """The incidents an event concerns (its subject on the incident topic, ids in its data, a notice's members)."""
    return _ids(envelope, data, field="incident_id", topic=INCIDENT_EVENTS)


def connection_ids(envelope: Envelope, data: dict[str, Any]) -> list[str]:
    """The connections (special meters and other operator equipment) an event concerns."""
    return _ids(envelope, data, field="connection_id", topic=CONNECTION_EVENTS)


def operator_ids(envelope: Envelope, data: dict[str, Any]) -> list[str]:
    """The operators (tenants) an event concerns: its envelope's tenant and those named in its data."""
    recipient = data.get("recipient") or {}
    found = [envelope.operator_id, data.get("operator_id"), *(data.get("operator_ids") or []), recipient.get("operator_id")]
    return list(dict.fromkeys(str(value) for value in found if value))


@dataclass(frozen=True)
class Selection:
    """What a consumer asked for: event types (none: all), and an operator, incident or connection it concerns."""

    types: frozenset[str] = frozenset()
    operator: str | None = None
    incident: str | None = None
    connection: str | None = None

    def matches(self, envelope: Envelope, data: dict[str, Any]) -> bool:
        """Whether the event (and ``data``, its payload as JSON) is one of those asked for."""
        if self.types and envelope.type not in self.types:
            return False
        if self.operator and self.operator not in operator_ids(envelope, data):
            return False
        if self.incident and self.incident not in incident_ids(envelope, data):
            return False
        return not self.connection or self.connection in connection_ids(envelope, data)
