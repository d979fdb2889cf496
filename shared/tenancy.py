"""Who sees what of an incident several operators share: the one rule every service that shows one applies.

An incident concerns the operators named on it and those whose connections it blocked (a fleet
vulnerability may concern hundreds). Each of them sees the incident; utility roles and auditors see
all of it; an operator sees the utility's part (what is about no operator in particular) and its
own part — never another operator's reports, blocks, notifications, or even that it is concerned.
Pure: no HTTP, no storage; the incident service's views and the audit service's dossiers both call it.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

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


WITHHELD_TITLE = "他の利用事業者の報告による事案（内容は非表示） / Reported by another operator (withheld)"
# What an operator wrote when it opened an incident: its part, not that of the others it came to concern.
_REPORTERS_WORDS = {"title": WITHHELD_TITLE, "description": "", "affected_assets": [], "operator_id": None, "connection_id": None}


def opening(principal: Principal, opened: Mapping[str, Any]) -> dict[str, Any]:
    """An incident's opening (title, description, affected assets …) as the caller sees it.

    An incident that names operators is their report: an operator concerned only because its connections
    were blocked for it (a block the SOC extended) sees the category, severity and TLP, not the others'
    words or assets. An incident naming no operator (a fleet vulnerability) is the utility's: shown to all.
    """
    named = [o for o in opened.get("operator_ids") or [] if o]
    if principal.role in READ_ALL_ROLES or not named or principal.operator_id in named:
        return dict(opened)
    return {**opened, **{k: v for k, v in _REPORTERS_WORDS.items() if k in opened}}
