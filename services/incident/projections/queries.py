"""Reading incident views as a caller may: tenant scope, redaction, filters and pages."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable

from shared.principal import Principal
from services.incident.projections.incidents import View, summary

MAX_PAGE = 200


@dataclass(frozen=True)
class IncidentFilter:
    """Filters of ``GET /incidents``."""

    status: str | None = None
    category: str | None = None
    severity: str | None = None
    operator_id: str | None = None


def concerned(view: View, blocked: dict[str, str]) -> set[str]:
    """Operators an incident concerns: those named on it and those whose connections it blocked."""
    return {*view.get("operator_ids", []), *blocked.values()}


def visible(view: View, principal: Principal, *, blocked: dict[str, str]) -> bool:
    """Whether the caller may see this incident at all."""
    return principal.may_see_any(sorted(concerned(view, blocked)))


def for_reader(view: View, principal: Principal, *, blocked: dict[str, str]) -> View:
    """A copy of the view for this caller: an operator sees only its own side of a shared incident."""
    shown = copy.deepcopy(view)
    shown["operator_ids"] = sorted(concerned(view, blocked))
    shown["blocked_connections"] = [{"connection_id": c, "operator_id": o} for c, o in sorted(blocked.items())]
    if principal.role != "operator":
        return shown
    own = principal.operator_id

    def mine(operator_id: str | None) -> bool:
        return operator_id in (None, own)

    shown["operator_ids"] = [own]
    shown["blocked_connections"] = [b for b in shown["blocked_connections"] if b["operator_id"] == own]
    shown["timeline"] = [t for t in shown["timeline"] if mine(t["operator_id"])]
    for part in ("initial", "cause"):
        shown["reports"][part] = [r for r in shown["reports"][part] if mine(r["operator_id"])]
    if shown.get("clearing"):
        shown["clearing"]["operator_ids"] = [own]
        shown["clearing"]["connection_ids"] = [b["connection_id"] for b in shown["blocked_connections"]]
    return shown


def list_page(
    views: list[View],
    *,
    principal: Principal,
    blocked_for: Callable[[str], dict[str, str]],
    where: IncidentFilter,
    limit: int,
    offset: int,
) -> dict[str, object]:
    """A page of incident summaries, newest first, that the caller may see and that match.

    Ordered by opening time and id, not by arrival: a rebuild reads partitions interleaved differently.
    """
    ordered = sorted(views, key=lambda v: (v["opened_at"], v["id"]), reverse=True)
    matched = [v for v in ordered if _matches(v, principal, blocked_for(v["id"]), where)]
    page = matched[offset : offset + limit]
    items = [summary(v) | {"operator_ids": _shown_operators(v, principal, blocked_for(v["id"]))} for v in page]
    next_offset = offset + limit if offset + limit < len(matched) else None
    return {"items": items, "total": len(matched), "limit": limit, "offset": offset, "next_offset": next_offset}


def _matches(view: View, principal: Principal, blocked: dict[str, str], where: IncidentFilter) -> bool:
    if not visible(view, principal, blocked=blocked):
        return False
    if principal.role == "operator" and where.operator_id not in (None, principal.operator_id):
        return False  # another tenant's filter finds nothing, not even the incidents shared with it
    if any(
        wanted is not None and view.get(name) != wanted
        for name, wanted in (("status", where.status), ("category", where.category), ("severity", where.severity))
    ):
        return False
    return where.operator_id is None or where.operator_id in concerned(view, blocked)


def _shown_operators(view: View, principal: Principal, blocked: dict[str, str]) -> list[str]:
    if principal.role == "operator":
        return [principal.operator_id or ""]
    return sorted(concerned(view, blocked))
