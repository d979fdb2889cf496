"""One async function per command and per timer: load the incident, let it decide, stage its events.

The anomaly signals (the sensors' inbox and ``POST /anomalies``) are decided in ``anomalies.py``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from typing import Callable, Sequence

from shared.events.incident import ReportFiled
from shared.eventstore import Context, Staged
from shared.principal import Principal
from shared.repository import ContextOf, Saved
from services.incident.application.service import IncidentService
from services.incident.domain.commands import AttachNote, ClearIncident, DeclareVulnerability, FileReport, OpenIncident
from services.incident.domain.model import Blocked, Incident
from services.incident.domain.values import overdue_key

DEADLINE_ACTOR = "system:deadlines"


@dataclass(frozen=True)
class Written:
    """What a write answers, read from the events it saved (so a retried idempotency key answers the same)."""

    incident_id: str
    version: int
    revision: int | None = None

    @classmethod
    def of(cls, saved: Saved) -> "Written":
        """The answer to a saved write: the incident, its version then, and the report revision it filed."""
        filed = saved.first(ReportFiled)
        return cls(saved.aggregate_id, saved.version, filed.revision if filed else None)


def for_incidents_tenant(context: Context) -> Callable[[Incident], Context]:
    """The context of a write on behalf of the incident's operator (the utility's, a sensor's, the timer's)."""
    return lambda incident: replace(context, operator_id=incident.operator_id)


def for_writer(context: Context, caller: Principal) -> ContextOf[Incident]:
    """An operator writes as its own tenant; the utility writes for the incident's operator."""
    return context if caller.party == "operator" else for_incidents_tenant(context)


async def open_incident(svc: IncidentService, cmd: OpenIncident, *, by: Principal, context: Context, key: str | None = None) -> Written:
    """A party reports an incident (an operator for itself, the utility for the operator it names)."""
    saved = await svc.repo.create(
        lambda new_id: Incident.open(new_id, cmd, by=by), context=for_writer(context, by), idempotency_key=key
    )
    return Written.of(saved)


@dataclass(frozen=True)
class AsParty:
    """A caller's write on an existing incident: who, the envelope context, If-Match and Idempotency-Key."""

    incident_id: str
    by: Principal
    context: Context
    expected_version: int | None = None
    key: str | None = None


async def file_report(svc: IncidentService, cmd: FileReport, *, write: AsParty) -> Written:
    """A party to the incident files or revises part (i) or (ii) of the report."""
    return await _as_party(svc, write, lambda incident, blocked: incident.file_report(cmd, by=write.by, blocked=blocked))


async def attach_note(svc: IncidentService, cmd: AttachNote, *, write: AsParty) -> Written:
    """A party to the incident attaches a note to it."""
    return await _as_party(svc, write, lambda incident, blocked: incident.attach_note(cmd, by=write.by, blocked=blocked))


async def clear_incident(svc: IncidentService, cmd: ClearIncident, *, write: AsParty) -> Written:
    """The responsible party clears the incident; the event names the connections blocked for it."""
    return await _as_party(svc, write, lambda incident, blocked: incident.clear(cmd, by=write.by, blocked=blocked))


async def declare_vulnerability(
    svc: IncidentService, cmd: DeclareVulnerability, *, context: Context, key: str | None = None
) -> Written:
    """The utility declares a serious vulnerability (the connection service matches and blocks)."""
    saved = await svc.repo.create(
        lambda new_id: Incident.declare_vulnerability(new_id, cmd, now=svc.clock()),
        context=for_incidents_tenant(context),
        idempotency_key=key,
    )
    return Written.of(saved)


async def check_deadlines(svc: IncidentService) -> int:
    """Record ReportOverdue for each report part past its deadline, once per incident and part; how many.

    Only the open incidents this instance owns (the ``open`` index): every instance watches its own.
    Both parts late at once are one append, keyed by the first part with the second as a marker.
    """
    now, staged, late = svc.clock(), [], 0
    tenant = for_incidents_tenant(Context(actor=DEADLINE_ACTOR))
    for incident_id in svc.store.find("open", "1"):
        incident = svc.repo.load(incident_id)
        keys = [overdue_key(incident_id, part) for part in incident.mark_overdue(now, svc.deadlines)]
        if keys:
            staged.append(svc.repo.stage(incident, context=tenant, idempotency_key=keys[0], markers=keys[1:]))
            late += len(keys)
    await committed(staged)
    return late


async def _as_party(svc: IncidentService, write: AsParty, decide: Callable[[Incident, Blocked], object]) -> Written:
    """Decide on the incident with the connections blocked for it, as the party the caller is to it."""
    incident_id = write.incident_id
    svc.store.require_owner(incident_id)  # another instance's incident: the HTTP edge forwards the command
    # 404 before anything else for a caller who is no party: not even a version conflict may tell it exists
    svc.repo.get(incident_id).party_of(write.by, blocked=svc.directory.blocked_for(incident_id))
    saved = await svc.repo.change(
        incident_id,
        lambda incident: decide(incident, svc.directory.blocked_for(incident_id)),
        context=for_writer(write.context, write.by),
        expected_version=write.expected_version,
        idempotency_key=write.key,
    )
    return Written.of(saved)


async def committed(staged: Sequence[Staged | None]) -> None:
    """Wait until every staged append is committed (the store commits what waits together)."""
    await asyncio.gather(*(s.committed() for s in staged if s is not None))
