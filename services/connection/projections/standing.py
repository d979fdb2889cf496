"""An operator's compliance standing on a day, as JSON-ready data (the status view and a report's records)."""

from __future__ import annotations

from datetime import date
from typing import Any

from services.connection.domain.compliance import (
    INFORMATION,
    RISK_ASSESSMENT,
    TRAINING_KINDS,
    DueItem,
    request_item,
    split,
    training_item,
)
from services.connection.domain.operator import Operator
from shared.events.operator import LeakageControlsAttested


def standing(operator: Operator, today: date, *, within_days: int) -> dict[str, Any]:
    """Last records, the attestation in force, every duty's due date, overdue and upcoming items, open requests."""
    items = operator.due_items()
    overdue, upcoming = split(items, today, within_days=within_days)
    last = operator.last_assessment
    return {
        "as_of": today.isoformat(),
        "agreement_date": operator.agreement_date.isoformat() if operator.agreement_date else None,
        "last_assessment": _record(last, exclude={"operator_id"}),
        "last_trainings": {kind: _record(operator.last_trainings.get(kind), exclude={"operator_id"}) for kind in TRAINING_KINDS},
        "leakage_controls": attestation(operator.attestation_in_force),
        "duties": {i.item: _item(i, today, within_days=within_days) for i in items if _is_duty(i)},
        "overdue": [_item(i, today, within_days=within_days) for i in overdue],
        "upcoming": [_item(i, today, within_days=within_days) for i in upcoming],
        "open_requests": [
            {
                "request_id": r.request_id,
                "subject": r.subject,
                "reply_by": r.reply_by.isoformat(),
                "overdue": today > r.reply_by,
            }
            for r in operator.open_requests()
        ],
    }


def report_records(operator: Operator, today: date, *, within_days: int, answering: str) -> dict[str, Any]:
    """What a status report answering ``answering`` carries: the standing without open requests or that request."""
    view = standing(operator, today, within_days=within_days)
    view["overdue"] = [i for i in view["overdue"] if i["item"] != request_item(answering)]
    view.pop("open_requests")
    return view


def attestation(event: LeakageControlsAttested | None) -> dict[str, Any] | None:
    """The attestation with the information it leaves without a named control."""
    if event is None:
        return None
    found = _record(event, exclude={"operator_id"})
    assert found is not None
    found["uncovered"] = [info for info in INFORMATION if not event.coverage.get(info)]
    return found


def _is_duty(item: DueItem) -> bool:
    return item.item == RISK_ASSESSMENT or item.item in {training_item(k) for k in TRAINING_KINDS}


def _item(item: DueItem, today: date, *, within_days: int) -> dict[str, Any]:
    state = "overdue" if item.overdue_on(today) else "upcoming" if item.upcoming_on(today, within_days=within_days) else "ok"
    return {
        "item": item.item,
        "due_date": item.due_date.isoformat(),
        "last_done": item.last_done.isoformat() if item.last_done else None,
        "days_left": item.days_left(today),
        "state": state,
    }


def _record(event: Any, *, exclude: set[str]) -> dict[str, Any] | None:
    return None if event is None else event.model_dump(mode="json", exclude=exclude)
