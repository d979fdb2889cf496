"""Who sees what of an incident several operators share: the one rule every service that shows one applies.

An incident concerns the operators named on it and those whose connections it blocked (a fleet
vulnerability may concern hundreds). Each of them sees the incident; utility roles and auditors see
all of it; an operator sees the utility's part (what is about no operator in particular) and its
own part — never another operator's reports, blocks, notifications, or even that it is concerned.
Pure: no HTTP, no storage; the incident service's views and the audit service's dossiers both call it.
"""

from __future__ import annotations

from typing import Iterable

from shared.principal import READ_ALL_ROLES, Principal


def concerned(named: Iterable[str | None], blocked: Iterable[str | None]) -> list[str]:
    """The operators an incident concerns: those named on it and those whose connections it blocked."""
    return sorted({o for o in (*named, *blocked) if o})


def may_see(principal: Principal, operators: Iterable[str]) -> bool:
    """Whether the caller sees the incident at all (else it is a 404: another tenant's looks like none)."""
    return principal.may_see_any(operators)


def shows(principal: Principal, operators: Iterable[str | None]) -> bool:
    """Whether one part of a shared incident (a timeline entry, a report, an audit entry) is shown to the caller.

    ``operators``: the operators the part is about (none: the utility's part, shown to every concerned reader).
    """
    if principal.role in READ_ALL_ROLES:
        return True
    about = {o for o in operators if o}
    return principal.role == "operator" and (not about or principal.operator_id in about)


def known(principal: Principal, operators: Iterable[str | None]) -> list[str]:
    """Of the operators a shown part names, those the caller may know of: all of them, or an operator itself."""
    named = sorted({o for o in operators if o})
    if principal.role in READ_ALL_ROLES:
        return named
    return [o for o in named if principal.role == "operator" and o == principal.operator_id]
