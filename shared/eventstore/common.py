"""What both event stores do alike: check versions, build envelopes, measure them, keep an append's answer as JSON."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from cloudevents.core.bindings.kafka import KafkaMessage

from shared import jsoncodec
from shared.domain import Invalid
from shared.envelope import Envelope, decode, encode, record_size
from shared.events import DomainEvent
from shared.eventstore.ports import AppendResult, ConcurrencyError, Context, Snapshot

DEFAULT_MAX_RECORD_BYTES = 900 * 1024
"""Below the broker's default ``message.max.bytes`` (1 MiB), with room for a record batch's framing."""


class RecordTooLarge(Invalid):
    """An append would write a record larger than the store takes (the broker would refuse it): a 422."""


class RecordRefused(Invalid):
    """One record of an append could not be written (too large for the client, not serialisable): only that append fails."""


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
    return jsoncodec.dumps_text({"version": result.version, "events": [v.decode() for v in values]})


def answer_of(text: str) -> AppendResult:
    """A kept answer, given again to a retry."""
    kept = jsoncodec.loads(text)
    envelopes = tuple(decode(event.encode()) for event in kept["events"])
    return AppendResult(envelopes, kept["version"], replayed=True)


@dataclass(frozen=True, slots=True)
class Encoded:
    """An append's records as they will be written: the events' messages, the answer kept under its keys, and
    the snapshot's changelog value (``snapshot_json``, made once)."""

    messages: list[KafkaMessage]
    answer: str | None
    snapshot: bytes | None = None


def encode_append(
    aggregate_id: str, envelopes: Sequence[Envelope], snapshot: Snapshot, *, keyed: bool, limit: int
) -> Encoded:
    """Encode an append's records and refuse it (RecordTooLarge) when one would be over ``limit`` bytes.

    Done when the append is staged, before anything else can see it: a refused append changes nothing.
    """
    try:
        messages = [encode(envelope) for envelope in envelopes]
    except (TypeError, ValueError) as exc:
        raise Invalid(f"{aggregate_id}: the events cannot be written as JSON ({type(exc).__name__})") from None
    sizes = [(f"the event {e.type}", record_size(m)) for e, m in zip(envelopes, messages)]
    snapshot_value = snapshot_json(snapshot)
    sizes.append(("its snapshot", len(aggregate_id) + len(snapshot_value)))
    answer = None
    if keyed:
        result = AppendResult(tuple(envelopes), envelopes[-1].sequence)
        answer = answer_json(result, [m.value for m in messages])
        sizes.append(("the answer kept for a retry", len(answer.encode())))
    for what, size in sizes:
        if size > limit:
            raise RecordTooLarge(
                f"{aggregate_id}: {what} would be {size} bytes, over the limit of {limit} bytes for one record "
                "(SMGUARD_MAX_EVENT_BYTES): send less text or fewer items"
            )
    return Encoded(messages, answer, snapshot_value)


def snapshot_json(snapshot: Snapshot) -> bytes:
    """A snapshot as the changelog keeps it."""
    body = {"version": snapshot.version, "state": snapshot.state, "index": snapshot.index}
    return jsoncodec.dumps(body)
