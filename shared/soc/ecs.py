"""An event as an Elastic Common Schema (ECS) document, for the SOC's SIEM: the table of ``mapping.py`` applied.

Every document has ``@timestamp``, ``event.*`` (kind, category, type, action, code, id, dataset,
module, provider, sequence; severity and outcome where the event says), ``message``, ``labels``,
``organization.id`` (the operator), ``user.name`` (who caused it), ``related.*``, ``trace.id`` /
``span.id`` from ``traceparent``, and the event's data under ``smguard.<dataset>`` (the topic's
aggregate type: incident, connection, policy, operator, contact, notification).

What never leaves: sealed connection secrets (every field of that type is left out, hints too); the
path and query of webhook URLs (often their credential: only the origin is kept). Free-form JSON a
sensor or an operator supplied (evidence, details, records) is kept as JSON text, so one event
cannot add fields to a SIEM's index.
"""

from __future__ import annotations

import json
import re
import types
import typing
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

from shared.envelope import Envelope
from shared.events import CATALOG, DomainEvent
from shared.events.connection import SealedSecrets
from shared.soc.mapping import MAPPING
from shared.soc.select import connection_ids, incident_ids, operator_ids
from shared.soc.text import summary

ECS_VERSION = "8.17.0"
SEVERITY = {"low": 21, "medium": 47, "high": 73, "critical": 99}
"""``event.severity`` of the agreement's severities (the scale Elastic's detection rules use)."""
RELATED_MAX = 100
"""Values kept in each ``related.*`` list and each ``smguard.*_ids`` list."""
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")
_PEOPLE = ("decided_by.id", "changed_by.id", "acknowledged_by")


def dataset(event_type: str) -> str:
    """The aggregate type whose topic holds the event: ``smguard.connection.events`` → ``connection``."""
    return CATALOG[event_type].topic.split(".")[1]


def _mentions(annotation: Any, wanted: Any) -> bool:
    return annotation is wanted or any(_mentions(arg, wanted) for arg in typing.get_args(annotation))


def secret_fields(cls: type[DomainEvent]) -> frozenset[str]:
    """The fields of an event class that hold sealed secrets (never mapped)."""
    return frozenset(name for name, info in cls.model_fields.items() if _mentions(info.annotation, SealedSecrets))


def free_form_fields(cls: type[DomainEvent]) -> frozenset[str]:
    """The fields of an event class whose JSON has no fixed shape (kept as JSON text)."""
    def loose(annotation: Any) -> bool:
        origin, args = typing.get_origin(annotation), typing.get_args(annotation)
        if origin in (typing.Union, types.UnionType):
            return any(map(loose, args))
        return annotation in (Any, object) or (origin is dict and args[-1] in (Any, object))

    return frozenset(name for name, info in cls.model_fields.items() if loose(info.annotation))


def payload(event: DomainEvent) -> dict[str, Any]:
    """The event's data as JSON as a SOC consumer may see it: secrets out, free-form JSON as text, URLs cut."""
    cls = type(event)
    data = event.model_dump(mode="json", exclude=set(secret_fields(cls)))
    for name in free_form_fields(cls) & data.keys():
        if data[name] is not None:
            data[name] = json.dumps(data[name], ensure_ascii=False, sort_keys=True)
    return _cut_urls(data)


def _cut_urls(value: Any) -> Any:
    if isinstance(value, list):
        return [_cut_urls(item) for item in value]
    if not isinstance(value, dict):
        return value
    return {key: _origin(item) if key == "webhook_url" and isinstance(item, str) else _cut_urls(item) for key, item in value.items()}


def _origin(url: str) -> str:
    parts = urlsplit(url)
    rest = "/…" if parts.path.strip("/") or parts.query or parts.fragment else ""
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}{rest}"


def _get(data: dict[str, Any], path: str) -> Any:
    value: Any = data
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _put(document: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for part in parents:
        document = document.setdefault(part, {})
    document[last] = value


def _time(moment: datetime) -> str:
    moment = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _bounded(values: list[Any]) -> list[str]:
    return list(dict.fromkeys(str(value) for value in values if value))[:RELATED_MAX]


def _event(envelope: Envelope, data: dict[str, Any]) -> dict[str, Any]:
    """The ``event.*`` fields: the mapping's categorization, the envelope's ids, the severity the event states."""
    name, entry = envelope.type, MAPPING[envelope.type]
    event: dict[str, Any] = {
        "kind": entry.kind, "category": list(entry.category), "type": list(entry.type),
        "action": re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower(), "code": name, "id": envelope.id,
        "dataset": f"smguard.{dataset(name)}", "module": "smguard", "provider": envelope.source, "sequence": envelope.sequence,
        "severity": SEVERITY.get(str(data.get("severity"))), "outcome": entry.outcome,
    }  # fmt: skip
    return {key: value for key, value in event.items() if value not in (None, [])}


def to_ecs(envelope: Envelope, data: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ECS document of a decoded event (``data``: its ``payload``, when already made)."""
    data = payload(envelope.event) if data is None else data
    name, entry = envelope.type, MAPPING[envelope.type]
    operators, incidents, connections = operator_ids(envelope, data), incident_ids(envelope, data), connection_ids(envelope, data)
    labels = {"subject": envelope.subject, "schema_version": str(type(envelope.event).schema_version),
              "correlation_id": envelope.correlation_id, "causation_id": envelope.causation_id,
              "incident_id": incidents[0] if len(incidents) == 1 else None,
              "connection_id": connections[0] if len(connections) == 1 else None}  # fmt: skip
    related = {"user": _bounded([envelope.actor, *(_get(data, path) for path in _PEOPLE)]),
               "hosts": _bounded([*connections, *(data.get("smart_meter_ids") or [])])}  # fmt: skip
    document: dict[str, Any] = {
        "@timestamp": _time(envelope.time), "ecs": {"version": ECS_VERSION}, "message": summary(entry.summary, data),
        "event": _event(envelope, data), "labels": {key: str(value) for key, value in labels.items() if value},
        "related": {key: values for key, values in related.items() if values},
        "smguard": {"event_type": name, "subject": envelope.subject, "sequence": envelope.sequence,
                    "schema_version": type(envelope.event).schema_version, "source": envelope.source,
                    "operator_ids": _bounded(operators), "incident_ids": _bounded(incidents),
                    "connection_ids": _bounded(connections), dataset(name): data},
    }  # fmt: skip
    if len(operators) == 1:
        document["organization"] = {"id": operators[0]}
    if envelope.actor:
        document["user"] = {"name": envelope.actor}
    if envelope.traceparent and (match := _TRACEPARENT.match(envelope.traceparent)):
        document["trace"], document["span"] = {"id": match[1]}, {"id": match[2]}
    if len(connections) == 1:
        document["device"] = {"id": connections[0]}
    for ecs_field, path in entry.fields.items():
        if (value := _get(data, path)) not in (None, ""):
            _put(document, ecs_field, value)
    return document
