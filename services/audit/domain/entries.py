"""An audit entry: one Kafka record of an event topic (secrets left out), with what queries and dossiers need; no I/O."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

from shared.envelope import DecodeError, Envelope, decode


def time_key(moment: datetime) -> str:
    """A fixed-width UTC timestamp that sorts as text (what the store compares)."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, slots=True)
class EntryFilter:
    """What a reader may filter entries by (all given filters must hold)."""

    subject: str | None = None
    operator_id: str | None = None
    type: str | None = None
    actor: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class EntryFacts:
    """What an event record says, for queries (``type`` is None for a record that is not an event)."""

    event_id: str | None = None
    type: str | None = None
    subject: str | None = None
    operator_id: str | None = None
    actor: str | None = None
    time: str | None = None
    incident_id: str | None = None
    data: dict[str, Any] | None = None
    tenants: tuple[str, ...] = ()


SECRET_FIELDS = frozenset({"ciphertext"})
"""Fields the log never keeps: a connection's sealed secrets (its fingerprint and masked hints stay)."""


def redact(value: bytes) -> bytes:
    """The record value as the log keeps it (its leaf data): exactly the Kafka bytes, except that a record whose
    event carries sealed secrets is kept as canonical JSON without their ciphertext (deterministic: a rebuild
    from the topics gives the same bytes, hence the same roots)."""
    if not any(name.encode() in value for name in SECRET_FIELDS) and b"\\u" not in value:
        return value  # no such field can be there (a key could be spelt with escapes only)
    try:
        document = json.loads(value)
    except ValueError:
        return value
    if not isinstance(document, dict) or not _strip(document.get("data")):
        return value
    return canonical_json(document).encode()


def _strip(node: Any) -> bool:
    """Remove the secret fields wherever they are (in place); whether any was there."""
    found = False
    if isinstance(node, dict):
        for name in SECRET_FIELDS & node.keys():
            del node[name]
            found = True
        for child in node.values():
            found = _strip(child) or found
    elif isinstance(node, list):
        for child in node:
            found = _strip(child) or found
    return found


def facts_of(value: bytes, *, decoder: Callable[[bytes], Envelope] = decode) -> EntryFacts:
    """Read the envelope of a record value (secrets left out); an unreadable record is still logged, with no facts."""
    try:
        envelope = decoder(value)
    except DecodeError:
        return EntryFacts()
    data = envelope.event.model_dump(mode="json")
    _strip(data)
    operator_id = envelope.operator_id or data.get("operator_id")
    return EntryFacts(
        event_id=envelope.id,
        type=envelope.type,
        subject=envelope.subject,
        operator_id=operator_id,
        actor=envelope.actor or _decider(data),
        time=time_key(envelope.time),
        incident_id=data.get("incident_id"),
        data=data,
        tenants=_tenants(operator_id, data),
    )


def _decider(data: dict[str, Any]) -> str | None:
    decided = data.get("decided_by")
    return decided.get("id") if isinstance(decided, dict) else None


def _tenants(operator_id: str | None, data: dict[str, Any]) -> tuple[str, ...]:
    """Every operator the entry concerns (a vulnerability incident may concern many)."""
    found = {operator_id, *(data.get("operator_ids") or [])}
    recipient = data.get("recipient")
    if isinstance(recipient, dict):
        found.add(recipient.get("operator_id"))
    return tuple(sorted(o for o in found if o))


def canonical_json(value: Any) -> str:
    """Compact sorted JSON, UTF-8 kept readable."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
