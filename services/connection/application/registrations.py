"""Bulk registration: many connections in one command, each row all or nothing, the valid ones committed in batches.

Each row is one new ``Connection`` (one ``ConnectionRegistered`` with its snapshot), staged through
the same repository as a single registration; the partition's writer commits what is staged in
group transactions (up to ``shared.eventstore.writer.MAX_BATCH`` appends each), so a thousand rows
cost a few transactions, not a thousand. A row is refused alone (not onboarded, a utility-side kind,
a record too large, its transaction failed) and the others go on; a row is never half-applied: its
event, snapshot and idempotency key commit in one transaction or not at all.

With an idempotency key every row gets its own (``<key>#<row>``) and every new id falls on the key's
partition, so a retry — forwarded to that partition's owner, whichever instance it is — answers the
registered rows as the first call did and decides only the rows that were not registered.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Sequence

from services.connection.application.handlers import onboarded
from services.connection.application.ports import PlainSecrets
from services.connection.application.service import ConnectionService
from services.connection.domain.commands import RegisterConnection
from services.connection.domain.model import Connection
from shared.domain import DomainError
from shared.eventstore import AppendResult, Context, Staged, StoreUnavailable, WriterFenced
from shared.eventstore.ports import CommitUnconfirmed
from shared.principal import Principal

CHUNK = 100
"""Rows staged with no ``await`` in between: the writers commit while the next chunk is decided, and the loop
is never held long (group heartbeats, other requests)."""
IN_FLIGHT = 20
"""Chunks staged and not committed yet at most: the rows wait in the request, not in the writers' queues."""
UNWRITTEN = (DomainError, StoreUnavailable, WriterFenced)
"""What refuses one row alone: the rules (a record too large), or its partition's writer (lost, failed, fenced)."""


@dataclass(frozen=True)
class Registration:
    """One valid row of a bulk request: the command and its write-only secrets (``row`` counts from 1)."""

    row: int
    cmd: RegisterConnection
    secrets: PlainSecrets = field(repr=False)


@dataclass(frozen=True)
class Outcome:
    """What became of a row: registered as ``id`` (at ``version``; ``replayed``: by an earlier call with the same
    idempotency key), or refused with ``error`` (``code``)."""

    row: int
    id: str | None = None
    version: int | None = None
    error: str | None = None
    code: str | None = None
    replayed: bool = False


def row_key(key: str, row: int) -> str:
    """The idempotency key of one row of a bulk request with ``key``."""
    return f"{key}#{row}"


async def register_connections(
    service: ConnectionService, rows: Sequence[Registration], *, by: Principal, context: Context,
    key: str | None = None,
) -> list[Outcome]:
    """Register every valid row; one outcome per row, in row order.

    Forbidden (nothing registered) when an operator names another operator in any row. NotOwner
    (nothing registered; the edge forwards the request) when this instance may not create here.
    CommitUnconfirmed when the broker does not confirm in time (what is staged may still commit).
    """
    tenants = {r.row: by.acts_for(r.cmd.operator_id) for r in rows}  # Forbidden before anything
    known = await _onboarded(service, {t for t in tenants.values() if t is not None})
    if key:
        service.store.require_owner(key)
    outcomes: dict[int, Outcome] = {}
    todo: list[Registration] = []
    for r in rows:
        tenant = tenants[r.row]
        if tenant is None:
            outcomes[r.row] = _refused(r.row, "operator_id is required when the utility registers a connection")
        elif not known[tenant]:
            outcomes[r.row] = _refused(r.row, f"operator {tenant} is not onboarded: the utility onboards it first")
        elif key and (earlier := await service.store.answer(row_key(key, r.row))) is not None:
            outcomes[r.row] = _registered(r.row, earlier)
        else:
            todo.append(r)
    if todo:
        service.connections.new_id(near=key, prefix="conn-")  # NotOwner before anything is staged
    contexts = {tenant: replace(context, operator_id=tenant) for tenant in known}
    staged: deque[list[tuple[int, Staged]]] = deque()  # chunks waiting for their commit, oldest first
    for start in range(0, len(todo), CHUNK):
        if len(staged) >= IN_FLIGHT:
            await _settle(service, staged.popleft(), outcomes)
        chunk = []
        for r in todo[start : start + CHUNK]:
            try:
                tenant, connection_id = tenants[r.row], service.connections.new_id(near=key, prefix="conn-")
                chunk.append((r.row, _stage(service, r, connection_id, tenant, context=contexts[tenant], key=key)))
            except UNWRITTEN as exc:
                outcomes[r.row] = _refused(r.row, str(exc), code=getattr(exc, "code", "unavailable"))
        staged.append(chunk)
        await asyncio.sleep(0)  # let the writers send what is staged
    while staged:
        await _settle(service, staged.popleft(), outcomes)
    return [outcomes[r.row] for r in sorted(rows, key=lambda r: r.row)]


def _stage(
    service: ConnectionService, r: Registration, connection_id: str, operator_id: str, *, context: Context, key: str | None
) -> Staged:
    """Seal, decide and stage one row (synchronous: nothing else decides in between); ``context`` is the tenant's."""
    connection = Connection.register(
        connection_id, operator_id=operator_id, kind=r.cmd.kind, maker=r.cmd.maker, model=r.cmd.model,
        firmware=r.cmd.firmware, smart_meter_ids=list(r.cmd.smart_meter_ids), secrets=service.sealer.seal(r.secrets),
    )  # fmt: skip
    staged = service.connections.stage(connection, context=context, idempotency_key=row_key(key, r.row) if key else None)
    assert staged is not None  # a registration always decides an event
    return staged


async def _settle(service: ConnectionService, waiting: list[tuple[int, Staged]], outcomes: dict[int, Outcome]) -> None:
    """Wait for one chunk's commits while the broker confirms some of it: CommitUnconfirmed when it confirms none
    within the store's deadline (what is staged may still commit); a row whose append failed is refused alone."""
    rows = {asyncio.ensure_future(staged.committed()): row for row, staged in waiting}
    for task in rows:
        task.add_done_callback(_retrieved)
    pending = set(rows)
    while pending:
        done, pending = await asyncio.wait(pending, timeout=service.store.commit_deadline)
        if not done:
            assert service.store.commit_deadline is not None
            raise CommitUnconfirmed(service.store.commit_deadline)
        for task in done:
            row, error = rows[task], task.exception()
            if error is None:
                outcomes[row] = _registered(row, task.result())
            elif isinstance(error, UNWRITTEN):
                outcomes[row] = _refused(row, f"not registered: {error} (retry the row)", code=getattr(error, "code", "unavailable"))
            else:
                raise error


def _retrieved(task: asyncio.Future[AppendResult]) -> None:
    """A row's outcome nobody waits for any more (the request answered 503) is still looked at: asyncio stays quiet."""
    if not task.cancelled():
        task.exception()


async def _onboarded(service: ConnectionService, operators: set[str]) -> dict[str, bool]:
    """Which of the operators are onboarded (each waits a moment when the read models do not show it yet)."""
    ordered = sorted(operators)
    found = await asyncio.gather(*(onboarded(service, operator) for operator in ordered))
    return dict(zip(ordered, found))


def _registered(row: int, result: AppendResult) -> Outcome:
    return Outcome(row, id=result.envelopes[0].subject, version=result.version, replayed=result.replayed)


def _refused(row: int, error: str, *, code: str = "invalid") -> Outcome:
    return Outcome(row, error=error, code=code)
