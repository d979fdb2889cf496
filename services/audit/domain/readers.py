"""What of an audit entry a reader is shown: the shared tenancy rule (``shared.tenancy``) applied to entries; no I/O.

An entry's ``tenants`` are the operators it is about; one about several (the clearing of a fleet
vulnerability incident names every operator and connection it blocked) is shown to each of them
with the others' operators and connections left out.
"""

from __future__ import annotations

from typing import Any, Iterable

from shared import tenancy
from shared.principal import READ_ALL_ROLES, Principal

Entry = dict[str, Any]
NAMED_CONNECTIONS = ("connection_ids",)
"""Event fields that list connections (of possibly several operators)."""


def shown(principal: Principal, entry: Entry) -> bool:
    """Whether the entry is part of what the caller sees (the utility's part, or one about the caller)."""
    return tenancy.shows(principal, entry.get("tenants", []))


def connections_named(entries: Iterable[Entry]) -> set[str]:
    """The connections the entries' events list (whose owners a reader's copy needs)."""
    return {c for e in entries for name in NAMED_CONNECTIONS for c in ((e.get("data") or {}).get(name) or [])}


def for_reader(principal: Principal, entry: Entry, *, owners: dict[str, str]) -> Entry:
    """The entry as the caller sees it; ``owners``: connection → operator, for the connections it names."""
    if principal.role in READ_ALL_ROLES:
        return entry
    mine = lambda operator_id: bool(tenancy.known(principal, [operator_id]))  # noqa: E731
    copy = {**entry, "tenants": tenancy.known(principal, entry.get("tenants", []))}
    if copy.get("operator_id") and not mine(copy["operator_id"]):
        copy["operator_id"] = None
    data = entry.get("data")
    if isinstance(data, dict):
        data = dict(data)
        if data.get("operator_id") and not mine(data["operator_id"]):
            data["operator_id"] = None
        if "operator_ids" in data:
            data["operator_ids"] = tenancy.known(principal, data["operator_ids"] or [])
        for name in NAMED_CONNECTIONS:
            if name in data:
                data[name] = [c for c in data[name] or [] if mine(owners.get(c))]
        copy["data"] = data
    return copy
