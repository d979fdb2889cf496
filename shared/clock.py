"""Time as the services see it: an injectable clock, and Japan time, where the agreement is lived."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Callable

Clock = Callable[[], datetime]
"""Gives the current time (zone-aware); tests pass one they move by hand."""

JST = timezone(timedelta(hours=9), "JST")


def utcnow() -> datetime:
    """The current time in UTC, zone-aware."""
    return datetime.now(timezone.utc)


def japan_date(moment: datetime) -> date:
    """The calendar day in Japan at ``moment`` (a naive time counts as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(JST).date()


def jst(moment: datetime | None) -> str:
    """A time as people in Japan read it, e.g. ``2026-11-26 18:00 JST`` (``-`` for none)."""
    if moment is None:
        return "-"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(JST).strftime("%Y-%m-%d %H:%M JST")
