"""Operators (their aggregate state, for the compliance view) and the block policy with its history.

The policy's history answers "which policy was in force when this anomaly was recorded", so a
command decided late — or again — decides as it would have at the time.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Iterator

from pydantic_core import to_jsonable_python

from services.connection.domain.operator import Operator
from services.connection.domain.policy import DEFAULT_POLICY, POLICY_ID
from shared.documents import Documents
from shared.envelope import Envelope
from shared.events.connection import BlockPolicyChanged

OPERATORS, POLICY = "operators", "policy"
PAGE = 50


def fold_operator(docs: Documents, envelope: Envelope) -> None:
    """One event of an operator's stream, folded by the aggregate itself."""
    doc = docs.get(OPERATORS, envelope.subject) or {"version": 0, "state": {}}
    if envelope.sequence <= doc["version"]:
        return
    operator = Operator.restore(envelope.subject, doc["version"], doc["state"]).fold([envelope.event])
    docs.put(OPERATORS, operator.id, {"name": operator.name, "version": operator.version, "state": operator.snapshot()})


def operator(docs: Documents, operator_id: str) -> Operator | None:
    """An onboarded operator as its events left it, or None."""
    doc = docs.get(OPERATORS, operator_id)
    found = Operator.restore(operator_id, doc["version"], doc["state"]) if doc else None
    return found if found is not None and found.onboarded else None


def every_operator(docs: Documents) -> Iterator[Operator]:
    """Every onboarded operator as its events left it (for the metrics: operators are few)."""
    for operator_id, doc in docs.every(OPERATORS):
        found = Operator.restore(operator_id, doc["version"], doc["state"])
        if found.onboarded:
            yield found


def operator_rows(docs: Documents, *, offset: int, limit: int) -> tuple[list[dict[str, Any]], int]:
    """A page of the onboarded operators in id order (id, name, agreement date, version), and how many there are.

    The documents are keyed by operator id and carry no tags, so the page is read by key from the store's
    table (``Documents.query`` gives documents without their keys)."""
    docs.write_held()
    total = docs.db.execute("SELECT COUNT(*) FROM docs WHERE coll = ?", (OPERATORS,)).fetchone()[0]
    found = docs.db.execute(
        "SELECT key, doc FROM docs WHERE coll = ? ORDER BY key LIMIT ? OFFSET ?", (OPERATORS, limit, offset)
    ).fetchall()
    return [row for key, doc in found if (row := _row(key, json.loads(doc))) is not None], int(total)


def operator_row(docs: Documents, operator_id: str) -> dict[str, Any] | None:
    """One onboarded operator as the list shows it, or None."""
    doc = docs.get(OPERATORS, operator_id)
    return _row(operator_id, doc) if doc else None


def _row(operator_id: str, doc: dict[str, Any]) -> dict[str, Any] | None:
    agreement_date = (doc.get("state") or {}).get("agreement_date")
    if not agreement_date:
        return None  # not onboarded (part 5's records are refused before it, so no such document is written)
    return {"operator_id": operator_id, "name": doc["name"], "agreement_date": agreement_date, "version": doc["version"]}


def fold_policy(docs: Documents, envelope: Envelope) -> None:
    """A policy change: the policy in force from the envelope's time on."""
    event = envelope.event
    if not isinstance(event, BlockPolicyChanged) or envelope.subject != POLICY_ID:
        return
    modes = {**DEFAULT_POLICY, **event.policy}
    docs.put(POLICY, POLICY_ID, {"modes": modes, "version": envelope.sequence})
    docs.add_item(POLICY, POLICY_ID, {"at": to_jsonable_python(envelope.time), "modes": modes})


def policy(docs: Documents) -> dict[str, str]:
    """The block policy in force now."""
    doc = docs.get(POLICY, POLICY_ID)
    return dict(doc["modes"]) if doc else dict(DEFAULT_POLICY)


def policy_at(docs: Documents, when: datetime) -> dict[str, str]:
    """The block policy in force at a time (the defaults before the first change)."""
    offset = 0
    while page := docs.items(POLICY, POLICY_ID, offset=offset, limit=PAGE, newest_first=True):
        for item in page:
            if datetime.fromisoformat(item["at"]) <= when:
                return dict(item["modes"])
        offset += PAGE
    return dict(DEFAULT_POLICY)


def operator_names(docs: Documents) -> dict[str, Any]:
    """Every operator's name by id (for the replay snapshot)."""
    return {operator_id: doc["name"] for operator_id, doc in docs.every(OPERATORS) if doc["name"]}
