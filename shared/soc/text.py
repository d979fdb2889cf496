"""Events as short text for a person at a terminal: a summary from a template, and one line per event.

Every piece of text an event carries is someone's input: control characters (a terminal's escape
sequences, line breaks, bidirectional overrides) are dropped and each piece is cut short, so a line
stays one harmless line.
"""

from __future__ import annotations

import re
import string
from datetime import datetime, timezone
from typing import Any

from shared.clock import JST

FIELD_MAX = 80
"""Characters of one value in a summary; longer ones are cut with an ellipsis."""
SUMMARY_MAX = 200
"""Characters of a whole summary."""
LIST_SHOWN = 5
"""Items of a list a summary names; the rest are counted."""

_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]+")


def clean(text: Any, limit: int = FIELD_MAX) -> str:
    """``text`` without control or direction characters (runs become a space), at most ``limit`` characters."""
    flat = _UNSAFE.sub(" ", str(text)).strip()
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _show(value: Any) -> str:
    if value is None or value == "" or value == [] or value == {}:
        return "-"
    if isinstance(value, list):
        shown = ", ".join(_show(item) for item in value[:LIST_SHOWN])
        return shown + (f" (+{len(value) - LIST_SHOWN})" if len(value) > LIST_SHOWN else "")
    if isinstance(value, dict):
        return ", ".join(f"{key}={_show(item)}" for key, item in list(value.items())[:LIST_SHOWN])
    if isinstance(value, bool):
        return "yes" if value else "no"
    return clean(value)


class _Template(string.Formatter):
    """``{field}`` and ``{field.sub}`` of an event's data as JSON; a missing value shows as ``-``."""

    def get_field(self, field_name: str, args: Any, kwargs: Any) -> tuple[Any, str]:
        value: Any = kwargs
        for part in field_name.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        return value, field_name

    def format_field(self, value: Any, format_spec: str) -> str:
        return _show(value)


_TEMPLATE = _Template()


def summary(template: str, data: dict[str, Any]) -> str:
    """The template filled from the event's data (values cleaned and cut), at most SUMMARY_MAX characters."""
    return clean(_TEMPLATE.vformat(template, (), data), SUMMARY_MAX)


def fields_of(template: str) -> list[str]:
    """The data paths a template names, e.g. ``["incident_id", "decided_by.id"]``."""
    return [name for _, name, _, _ in string.Formatter().parse(template) if name]


def clock_time(moment: datetime, *, utc: bool = False) -> str:
    """A time to the second, in Japan (default) or UTC: ``2026-11-26 18:00:05 JST``."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    zone, name = (timezone.utc, "UTC") if utc else (JST, "JST")
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S ") + name


def line(*, time: datetime, event_type: str, subject: str, operator: str | None, text: str, utc: bool = False) -> str:
    """One event as one line: time, type, subject, operator (``-`` for none), summary."""
    return f"{clock_time(time, utc=utc)}  {event_type:<27} {clean(subject, 40):<24} {clean(operator or '-', 24):<16} {text}"
