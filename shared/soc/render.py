"""A record of an event topic as a SOC consumer asked to see it: as written, as a line, or as ECS; and where to start."""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from typing import Literal

from shared.envelope import decode
from shared.soc.ecs import payload, to_ecs
from shared.soc.mapping import MAPPING
from shared.soc.select import Selection, operator_ids
from shared.soc.text import clean, line, summary

Start = Literal["now", "beginning"] | datetime
REASON_MAX = 300
"""Characters of the reason a record was skipped."""


def start_of(text: str) -> Start:
    """``now``, ``beginning``, or an ISO 8601 time with a zone; argparse's error otherwise."""
    if text in ("now", "beginning"):
        return text  # type: ignore[return-value]
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected now, beginning or an ISO 8601 time with a zone (e.g. 2026-11-26T09:00:00+09:00), not {text!r}"
        ) from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no zone: say {text}+09:00 for Japan time or {text}Z for UTC")
    return moment


class Renderer:
    """Turns a record's value into the output line of a format, or None when the event is not selected."""

    def __init__(self, selection: Selection, fmt: str, *, utc: bool = False) -> None:
        self.selection, self.format, self.utc = selection, fmt, utc

    def render(self, value: bytes | None, key: bytes | None = None) -> str | None:
        """The line for a record (DecodeError when it is no smguard event this version reads)."""
        envelope = decode(value, key=key)
        data = payload(envelope.event)
        if not self.selection.matches(envelope, data):
            return None
        if self.format == "ecs":
            text = json.dumps(to_ecs(envelope, data), ensure_ascii=False, separators=(",", ":"), sort_keys=True)
            return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
        if self.format == "line":
            operators = operator_ids(envelope, data)
            return line(time=envelope.time, event_type=envelope.type, subject=envelope.subject,
                        operator=", ".join(operators[:3]) or None, text=summary(MAPPING[envelope.type].summary, data),
                        utc=self.utc)  # fmt: skip
        text = (value or b"").decode()
        return json.dumps(json.loads(text), ensure_ascii=False) if "\n" in text or "\r" in text else text

    @staticmethod
    def clean(reason: object) -> str:
        """A skip reason fit for one line of stderr."""
        return clean(reason, REASON_MAX)
