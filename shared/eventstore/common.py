"""What both event stores do alike: check versions, build envelopes, keep an append's answer as JSON."""

from __future__ import annotations

import json
from typing import Sequence

from shared.envelope import Envelope, decode, encode
from shared.events import DomainEvent
from shared.eventstore.ports import AppendResult, ConcurrencyError, Context


def envelopes_for(
    aggregate_id: str,
    events: Sequence[DomainEvent],
    *,
    current: int,
    expected: int | None,
    source: str,
    idempotency_key: str | None,
    context: Context,
) -> list[Envelope]:
    """The envelopes of an append at version ``current``; ConcurrencyError when ``expected`` is not it."""
    if expected is not None and expected != current:
        raise ConcurrencyError(aggregate_id, expected=expected, actual=current)
    if not events:
        raise ValueError("append needs at least one event")
    topics = {type(event).topic for event in events}
    if len(topics) != 1:
        raise ValueError(f"one aggregate's events go to one topic, got {sorted(topics)}")
    return [
        Envelope(
            event=event,
            subject=aggregate_id,
            sequence=current + i + 1,
            source=source,
            operator_id=context.operator_id,
            actor=context.actor,
            correlation_id=context.correlation_id,
            causation_id=context.causation_id,
            idempotency_key=idempotency_key,
            traceparent=context.traceparent,
        )
        for i, event in enumerate(events)
    ]


def answer_json(result: AppendResult, encoded: Sequence[bytes] | None = None) -> str:
    """An append's answer as kept under its idempotency key (the events as CloudEvents JSON).

    ``encoded``: the events' record values when the caller has them already (encoding is not free).
    """
    values = encoded if encoded is not None else [encode(envelope).value for envelope in result.envelopes]
    return json.dumps({"version": result.version, "events": [v.decode() for v in values]}, ensure_ascii=False)


def answer_of(text: str) -> AppendResult:
    """A kept answer, given again to a retry."""
    kept = json.loads(text)
    envelopes = tuple(decode(event.encode()) for event in kept["events"])
    return AppendResult(envelopes, kept["version"], replayed=True)
