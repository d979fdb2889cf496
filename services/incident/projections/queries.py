"""Reading incident views as a caller may: tenant scope, redaction, filters as tags, summaries."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shared import tenancy
from shared.principal import Principal
from services.incident.projections.incidents import View

MAX_PAGE, MAX_ANOMALY_PAGE, SHOWN_BLOCKS = 200, 500, 200
SUMMARY_FIELDS = (
    "id", "status", "category", "severity", "tlp", "title", "origin", "opened_by", "operator_id",
    "connection_id", "detected_at", "opened_at", "cleared_at", "version", "anomaly_count",
)  # fmt: skip


@dataclass(frozen=True)
class IncidentFilter:
    """Filters of ``GET /incidents``."""

    status: str | None = None
    category: str | None = None
    severity: str | None = None
    operator_id: str | None = None


def tags_for(where: IncidentFilter, principal: Principal) -> dict[str, str | None] | None:
    """The tags a caller's list query matches (an operator: only incidents that concern it); None: nothing can."""
    operator = where.operator_id
    if principal.role == "operator":
        if operator not in (None, principal.operator_id):
            return None  # another tenant's filter finds nothing, not even the incidents shared with it
        operator = principal.operator_id
    return {"status": where.status, "category": where.category, "severity": where.severity, "operator": operator}


def concerned(view: View, blocked_operators: list[str]) -> list[str]:
    """Operators an incident concerns: those named on it and those whose connections it blocked."""
    return tenancy.concerned(view.get("operator_ids", []), blocked_operators)


def visible(view: View, principal: Principal, *, blocked_operators: list[str]) -> bool:
    """Whether the caller may see this incident at all."""
    return tenancy.may_see(principal, concerned(view, blocked_operators))


def for_reader(view: View, principal: Principal, *, operators: list[str], blocks: list[dict[str, Any]], blocked: int) -> View:
    """A copy of the view for this caller (``blocks``: the first of the ``blocked`` connections it may see):
    an operator sees only its own side of a shared incident."""
    shown = copy.deepcopy(view)
    shown.setdefault("notes", [])  # a view made before notes existed has none yet
    shown.setdefault("note_count", 0)
    shown.setdefault("notes_truncated", False)
    shown["operator_ids"] = operators
    shown["blocked_connections"] = [{"connection_id": b["connection_id"], "operator_id": b["operator_id"]} for b in blocks]
    shown["blocked_count"] = blocked
    if principal.role != "operator":
        return shown
    own = principal.operator_id

    def mine(operator_id: str | None) -> bool:
        return tenancy.shows(principal, [operator_id])

    shown.update(tenancy.opening(principal, view))  # another operator's report: its words withheld
    shown["anomalies"] = [a for a in shown.get("anomalies", []) if mine(a.get("operator_id"))]
    shown["operator_ids"] = [own]
    shown["timeline"] = [t for t in shown["timeline"] if mine(t["operator_id"])]
    for part in ("initial", "cause"):
        shown["reports"][part] = [r for r in shown["reports"][part] if mine(r["operator_id"])]
    shown["notes"] = [n for n in shown["notes"] if mine(n["operator_id"])]
    if shown.get("clearing"):
        shown["clearing"]["operator_ids"] = [own]
        shown["clearing"]["connection_ids"] = [b["connection_id"] for b in shown["blocked_connections"]]
    return shown


def summary(view: View, *, operators: list[str]) -> View:
    """The fields a list shows, with the operators the caller may know the incident concerns."""
    return {name: view.get(name) for name in SUMMARY_FIELDS} | {
        "reports": {part: len(revisions) for part, revisions in view["reports"].items()},
        "overdue": [o["part"] for o in view["overdue"]],
        "operator_ids": operators,
    }


def report_due(view: View, deadlines: dict[str, timedelta]) -> dict[str, str | None]:
    """When each report part is due (detection plus the utility's deadline for it), filed or not; None without a detection time."""
    detected = view.get("detected_at")
    if not detected:
        return {part: None for part in deadlines}
    at = datetime.fromisoformat(detected)
    return {part: (at + deadline).isoformat() for part, deadline in deadlines.items()}


def page(items: list[Any], *, total: int, limit: int, offset: int) -> dict[str, Any]:
    """A page of a longer list, with where the next one starts (None: this is the last)."""
    next_offset = offset + limit if offset + limit < total else None
    return {"items": items, "total": total, "limit": limit, "offset": offset, "next_offset": next_offset}
