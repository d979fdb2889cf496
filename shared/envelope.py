"""The CloudEvents 1.0 envelope (structured JSON mode), as the official SDK's Kafka binding writes and reads it."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, NamedTuple

from cloudevents.core.bindings.kafka import KafkaMessage, from_structured, to_structured
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from pydantic import ValidationError

from shared import jsoncodec
from shared.events import DomainEvent, UnknownEventType, event_class

TYPE_PREFIX = "jp.smguard."
SCHEMA_PREFIX = "urn:smguard:event:"
SPECVERSION = "1.0"
STRUCTURED_CONTENT_TYPE = JSONFormat.CONTENT_TYPE.encode()
_FORMAT = JSONFormat()


class DecodeError(ValueError):
    """A Kafka message is not a smguard event we can read; the reason says why."""


class Position(NamedTuple):
    """Where a record sits in Kafka."""

    topic: str
    partition: int
    offset: int


def utcnow() -> datetime:
    """The current time in UTC, zone-aware."""
    return datetime.now(timezone.utc)


def new_id() -> str:
    """A fresh unique id."""
    return str(uuid.uuid4())


@dataclass(frozen=True, slots=True)
class Envelope:
    """A domain event with its envelope attributes; ``position`` is set on events read back."""

    event: DomainEvent
    subject: str
    sequence: int
    source: str
    id: str = field(default_factory=new_id)
    time: datetime = field(default_factory=utcnow)
    operator_id: str | None = None
    actor: str | None = None
    correlation_id: str | None = None
    causation_id: str | None = None
    idempotency_key: str | None = None
    traceparent: str | None = None
    position: Position | None = None

    @property
    def type(self) -> str:
        """The event's public name, e.g. ``IncidentOpened``."""
        return self.event.event_type()

    def at(self, position: Position) -> "Envelope":
        """The same envelope, known to sit at ``position`` (built directly: the writer places every event it sends)."""
        return Envelope(
            self.event, self.subject, self.sequence, self.source, self.id, self.time, self.operator_id, self.actor,
            self.correlation_id, self.causation_id, self.idempotency_key, self.traceparent, position,
        )  # fmt: skip


_EXTENSIONS = {
    "operatorid": "operator_id",
    "actor": "actor",
    "correlationid": "correlation_id",
    "causationid": "causation_id",
    "idempotencykey": "idempotency_key",
    "traceparent": "traceparent",
}


def encode(envelope: Envelope) -> KafkaMessage:
    """Serialise to a Kafka message: JSON CloudEvent as value, the subject as key.

    The record is what the SDK's ``to_structured`` with ``JSONFormat`` writes (``encode_with_sdk``):
    the same key and headers, and a value the SDK reads back to the same event (a test holds them
    equal). It is compact UTF-8 JSON from orjson, built without the SDK's per-event object and checks:
    an envelope's attributes are ours, valid by construction, and this runs for every event written.
    """
    attributes = _attributes(envelope)
    body = dict(attributes, time=_time_text(envelope.time), specversion=SPECVERSION, data=envelope.event.model_dump(mode="json"))
    headers = {"content-type": STRUCTURED_CONTENT_TYPE}
    for name in ("correlationid", "traceparent"):
        if attributes.get(name):
            headers[name] = str(attributes[name]).encode()
    return KafkaMessage(headers=headers, key=envelope.subject.encode(), value=jsoncodec.dumps(body))


def encode_with_sdk(envelope: Envelope) -> KafkaMessage:
    """The same record through the official SDK's Kafka binding (the reference ``encode`` is held to)."""
    attributes = _attributes(envelope)
    event = CloudEvent(attributes, envelope.event.model_dump(mode="json"))
    message = to_structured(event, _FORMAT, key_mapper=lambda _: envelope.subject.encode())
    headers = dict(message.headers)
    for name in ("correlationid", "traceparent"):
        if attributes.get(name):
            headers[name] = str(attributes[name]).encode()
    return KafkaMessage(headers=headers, key=message.key, value=message.value)


def _attributes(envelope: Envelope) -> dict[str, Any]:
    cls = type(envelope.event)
    attributes: dict[str, Any] = {
        "id": envelope.id,
        "source": envelope.source,
        "type": TYPE_PREFIX + cls.event_type(),
        "subject": envelope.subject,
        "time": envelope.time,
        "datacontenttype": "application/json",
        "dataschema": f"{SCHEMA_PREFIX}{cls.event_type()}:{cls.schema_version}",
        "sequence": envelope.sequence,
        "schemaversion": cls.schema_version,
    }
    for ext, attr in _EXTENSIONS.items():
        value = getattr(envelope, attr)
        if value is not None:
            attributes[ext] = value
    return attributes


def _time_text(time: datetime) -> str:
    """A time as the SDK's JSON format writes it (RFC 3339, ``Z`` for UTC)."""
    text = time.isoformat()
    return text.removesuffix("+00:00") + "Z" if text.endswith("+00:00") else text


def record_size(message: KafkaMessage) -> int:
    """Bytes the message takes as a Kafka record: key, value and headers (the batch framing comes on top)."""
    headers = sum(len(name) + len(value) for name, value in message.headers.items())
    return len(message.key or b"") + len(message.value or b"") + headers


def kafka_headers(message: KafkaMessage) -> list[tuple[str, bytes]]:
    """Headers in the list form Kafka clients take."""
    return list(message.headers.items())


class Parsed(NamedTuple):
    """What a record's value says, before the record's key and position are known."""

    event: DomainEvent
    sequence: int
    attributes: dict[str, Any]


def decode(value: bytes | None, *, key: bytes | None = None, position: Position | None = None) -> Envelope:
    """Parse a Kafka record into an envelope, upcasting old schema versions; DecodeError if not ours."""
    return envelope_of(parse(value), key=key, position=position)


def parse(value: bytes | None) -> Parsed:
    """The event and envelope attributes of a record value (upcast to the current schema); DecodeError if not ours."""
    if not value:
        raise DecodeError("empty record value")
    attributes = _read_plain(value)
    if attributes is None:  # not plainly what ``encode`` writes: the SDK reads it (and says why it cannot)
        try:
            cloud = from_structured(KafkaMessage(headers={}, key=None, value=value), _FORMAT, CloudEvent)
        except Exception as exc:  # the SDK raises several kinds for malformed input
            raise DecodeError(f"not a CloudEvents JSON record: {exc}") from None
        attributes, data = cloud.get_attributes(), cloud.get_data()
    else:
        data = attributes.pop("data")
    event_type = str(attributes.get("type", ""))
    if not event_type.startswith(TYPE_PREFIX):
        raise DecodeError(f"not a smguard event type: {event_type!r}")
    try:
        cls = event_class(event_type.removeprefix(TYPE_PREFIX))
    except UnknownEventType as exc:
        raise DecodeError(str(exc)) from None
    if not isinstance(data, dict):
        raise DecodeError(f"{cls.__name__}: data is not a JSON object")
    try:
        version = int(attributes.get("schemaversion", 1))
        if version > cls.schema_version:  # a newer writer's event: read as ours, its meaning could be lost
            raise DecodeError(f"{cls.__name__}: schema version {version} is newer than this service reads ({cls.schema_version})")
        event = cls.model_validate(cls.upcast(data, version))
        sequence = int(attributes["sequence"])
    except (ValidationError, ValueError, KeyError, TypeError) as exc:
        raise DecodeError(f"{cls.__name__}: invalid payload: {exc}") from None
    return Parsed(event, sequence, attributes)


def envelope_of(parsed: Parsed, *, key: bytes | None = None, position: Position | None = None) -> Envelope:
    """The envelope of a parsed record value with its record's key (the subject when the value names none)."""
    event, sequence, attributes = parsed
    subject = attributes.get("subject") or (key.decode() if key else "")
    if not subject:
        raise DecodeError(f"{type(event).__name__}: no subject")
    return Envelope(
        event=event,
        subject=subject,
        sequence=sequence,
        source=str(attributes["source"]),
        id=str(attributes["id"]),
        time=attributes.get("time") or utcnow(),
        position=position,
        **{attr: attributes.get(ext) for ext, attr in _EXTENSIONS.items()},
    )


_PLAIN_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{6})?(Z|[+-]\d{2}:\d{2})$")
_EXTENSION_NAME = re.compile(r"^[a-z0-9]+$")
_REQUIRED = ("id", "source", "type")
_OPTIONAL_TEXT = ("subject", "datacontenttype", "dataschema")


def _read_plain(value: bytes) -> dict[str, Any] | None:
    """The attributes and ``data`` of a record shaped exactly as ``encode`` writes it — a version 1.0 structured
    CloudEvent the SDK would read to the same attributes — or None for anything else (the SDK then reads it).

    Reading these directly spares every consumer the SDK's per-record object and checks; what it accepts is
    a subset of what the SDK accepts, with the same result (a test holds them equal).
    """
    try:
        body = jsoncodec.loads(value)
    except ValueError:  # not JSON, or not UTF-8: the SDK says so
        return None
    if type(body) is not dict or body.get("specversion") != SPECVERSION or "data_base64" in body or "data" not in body:
        return None
    if not all(type(body.get(name)) is str and body[name] for name in _REQUIRED):
        return None
    if not all(type(body[name]) is str and body[name] for name in _OPTIONAL_TEXT if name in body):
        return None
    if any(name not in _KNOWN_ATTRIBUTES and not _EXTENSION_NAME.match(name) for name in body):
        return None
    if "time" in body:
        text = body["time"]
        if type(text) is not str or not _PLAIN_TIME.match(text):
            return None
        body["time"] = datetime.fromisoformat(text)
    return body


_KNOWN_ATTRIBUTES = frozenset({"specversion", "data", "time", *_REQUIRED, *_OPTIONAL_TEXT})
