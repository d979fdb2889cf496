"""Part 5's calendar: when a yearly duty or a status answer is due, overdue or coming up. Pure dates.

A duty done on day D is due again on the same day one year later and is **overdue from the day
after** that (an assessment exactly one year old is not yet "older than a year"). A duty never
done counts from the agreement date. A duty last done on 29 February is due on 28 February of
the next year: the earlier of the two candidate days, so the interval never exceeds one year.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Protocol, TypeVar

RISK_ASSESSMENT = "risk_assessment"
TRAINING_KINDS = ("education", "incident_drill")
DUTIES = (RISK_ASSESSMENT, *(f"training:{kind}" for kind in TRAINING_KINDS))
INFORMATION = ("special_meter_id", "auth_id", "password", "pairing_id")
"""The important information part 5 names: special-meter IDs and the IoT route's credentials."""


class Dated(Protocol):
    """A record of a duty done on a day."""

    @property
    def date(self) -> date: ...


R = TypeVar("R", bound=Dated)


@dataclass
class StatusRequest:
    """The utility's request to see how the operator is doing, and whether it was answered."""

    request_id: str
    subject: str
    reply_by: date
    answered: bool = False

    @property
    def open(self) -> bool:
        """Not answered yet."""
        return not self.answered


def one_year_after(day: date) -> date:
    """The same calendar day a year later; 29 February becomes 28 February in a non-leap year."""
    try:
        return day.replace(year=day.year + 1)
    except ValueError:
        return day.replace(year=day.year + 1, day=28)


def training_item(kind: str) -> str:
    """The item name of a training kind."""
    return f"training:{kind}"


def request_item(request_id: str) -> str:
    """The item name of a status request."""
    return f"status_request:{request_id}"


@dataclass(frozen=True, slots=True)
class DueItem:
    """Something the operator owes by a date."""

    item: str
    due_date: date
    last_done: date | None = None

    def overdue_on(self, today: date) -> bool:
        """Past its due date (the due date itself is still in time)."""
        return today > self.due_date

    def upcoming_on(self, today: date, *, within_days: int) -> bool:
        """Not overdue, and due within ``within_days`` days."""
        return today <= self.due_date and (self.due_date - today).days <= within_days

    def days_left(self, today: date) -> int:
        """Days until the due date (negative once overdue)."""
        return (self.due_date - today).days


def duty_due(item: str, *, last_done: date | None, agreement_date: date) -> DueItem:
    """The due date of a yearly duty: a year after the last one, or after the agreement when none."""
    return DueItem(item, one_year_after(last_done or agreement_date), last_done)


def split(items: list[DueItem], today: date, *, within_days: int) -> tuple[list[DueItem], list[DueItem]]:
    """Overdue and upcoming items, each by due date."""
    ordered = sorted(items, key=lambda i: (i.due_date, i.item))
    overdue = [i for i in ordered if i.overdue_on(today)]
    upcoming = [i for i in ordered if i.upcoming_on(today, within_days=within_days)]
    return overdue, upcoming


def later_record(current: R | None, new: R) -> R:
    """The record with the later date; on a tie the one recorded later (``new``)."""
    return new if current is None or new.date >= current.date else current


def overdue_key(operator_id: str, item: str, due_date: date) -> str:
    """The key an overdue item is recognised by: ``connection:compliance-overdue:<operator>:<item>:<due date>``."""
    return f"connection:compliance-overdue:{operator_id}:{item}:{due_date.isoformat()}"
