"""One async function per command: load the incident, let it decide, append its events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.domain import NotFound
from shared.envelope import new_id
from shared.events.incident import ReportFiled
from shared.events.values import Party
from shared.eventstore import Context
from services.incident.application.ports import ConnectionDirectory
from services.incident.application.repository import IncidentRepository, Write, first_subject
from services.incident.domain.anomalies import Outcome, decide_batch
from services.incident.domain.commands import Anomaly, ClearIncident, DeclareVulnerability, FileReport, OpenIncident
from services.incident.domain.model import Incident


@dataclass(frozen=True)
class Written:
    """What a write answers: the incident, its version after the write, and a report revision."""

    incident_id: str
    version: int
    revision: int | None = None


def concerned(incident: Incident, directory: ConnectionDirectory) -> set[str]:
    """Operators an incident concerns: those it names, and those whose connections it blocked."""
    return {*incident.operator_ids, *directory.blocked_for(incident.id).values()}


async def open_incident(repo: IncidentRepository, cmd: OpenIncident, *, context: Context, key: str | None = None) -> Written:
    """A party reports an incident."""

    def decide() -> tuple[list[Write], None]:
        incident = Incident.open(new_id(), cmd)
        return [Write(incident.id, incident.take_pending(), 0, context, key)], None

    results, _ = await repo.run(decide, idempotency_key=key)
    return Written(first_subject(results), results[0].version)


async def file_report(
    repo: IncidentRepository,
    incident_id: str,
    cmd: FileReport,
    *,
    context: Context,
    expected_version: int | None = None,
    key: str | None = None,
) -> Written:
    """File or revise part (i) or (ii) of the report."""

    def decide() -> tuple[list[Write], None]:
        incident = repo.get(incident_id, expected_version=expected_version)
        incident.file_report(cmd)
        return [Write(incident_id, incident.take_pending(), incident.version, context, key)], None

    results, _ = await repo.run(decide, idempotency_key=key)
    filed = results[0].envelopes[-1].event
    revision = filed.revision if isinstance(filed, ReportFiled) else None
    return Written(first_subject(results), results[0].version, revision)


async def clear_incident(
    repo: IncidentRepository,
    directory: ConnectionDirectory,
    incident_id: str,
    cmd: ClearIncident,
    *,
    context: Context,
    expected_version: int | None = None,
    key: str | None = None,
) -> Written:
    """The responsible party clears the incident; the event names the connections it blocked."""

    def decide() -> tuple[list[Write], None]:
        incident = repo.get(incident_id, expected_version=expected_version)
        blocked = directory.blocked_for(incident_id)
        incident.clear(
            ClearIncident(
                summary=cmd.summary,
                party=cmd.party,
                decided_by=cmd.decided_by,
                operator_ids=tuple(blocked.values()),
                connection_ids=tuple(blocked),
            )
        )
        return [Write(incident_id, incident.take_pending(), incident.version, context, key)], None

    results, _ = await repo.run(decide, idempotency_key=key)
    return Written(first_subject(results), results[0].version)


async def declare_vulnerability(
    repo: IncidentRepository, cmd: DeclareVulnerability, *, now: datetime, context: Context, key: str | None = None
) -> Written:
    """The utility declares a serious vulnerability (the connection service matches and blocks)."""

    def decide() -> tuple[list[Write], None]:
        incident = Incident.declare_vulnerability(new_id(), cmd, now=now)
        return [Write(incident.id, incident.take_pending(), 0, context, key)], None

    results, _ = await repo.run(decide, idempotency_key=key)
    return Written(first_subject(results), results[0].version)


async def handle_anomalies(
    repo: IncidentRepository, directory: ConnectionDirectory, anomalies: list[Anomaly], *, actor: str
) -> list[Outcome]:
    """Decide a whole batch of anomaly signals, then append once per touched incident.

    The appends of one batch are committed together (the store group-commits them in one Kafka
    transaction). Duplicates and signals on unknown connections produce no event.
    """

    def decide() -> tuple[list[Write], list[Outcome]]:
        outcomes, touched = decide_batch(
            anomalies, index=repo.index, connections=directory.connection, load=repo.load, new_id=new_id
        )
        writes = [
            Write(i.id, i.take_pending(), i.version, Context(actor=actor, operator_id=i.operator_id))
            for i in touched.values()
        ]
        return writes, outcomes

    _, outcomes = await repo.run(decide)
    return outcomes or []


async def check_deadlines(repo: IncidentRepository, *, now: datetime, deadlines: dict[str, timedelta]) -> int:
    """Record ReportOverdue for each report part past its deadline (once per incident and part)."""

    def decide() -> tuple[list[Write], int]:
        writes = []
        for incident_id in repo.open_ids():
            incident = repo.load(incident_id)
            parts = incident.mark_overdue(now, deadlines)
            context = Context(actor="system:deadlines", operator_id=incident.operator_id)
            for offset, (part, event) in enumerate(zip(parts, incident.take_pending())):
                key = f"overdue:{incident_id}:{part}"
                writes.append(Write(incident_id, [event], incident.version + offset, context, key))
        return writes, len(writes)

    _, count = await repo.run(decide)
    return count or 0


def require_party(
    incident: Incident, directory: ConnectionDirectory, *, role: str, operator_id: str | None
) -> Party:
    """The party the caller acts as; NotFound when the incident does not concern it."""
    party = incident.party_of(role=role, operator_id=operator_id, concerned=concerned(incident, directory))
    if party is None:
        raise NotFound(f"incident {incident.id} not found")
    return party
