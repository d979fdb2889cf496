"""The incident aggregate: opened, reported on in two parts, cleared; anomalies and deadlines."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal, Mapping

from shared.domain import Aggregate, Conflict, Forbidden, Index, Invalid, not_found
from shared.events import DomainEvent
from shared.events.incident import (
    AffectedAsset,
    AnomalyAttached,
    AnomalyDetected,
    IncidentCleared,
    IncidentNoteAttached,
    IncidentOpened,
    ReportFiled,
    ReportOverdue,
)
from shared.events.values import Actor, Direction, Party
from shared.principal import Principal
from services.incident.domain.commands import (
    Anomaly,
    AssetRef,
    AttachNote,
    ClearIncident,
    DeclareVulnerability,
    FileReport,
    OpenIncident,
)
from services.incident.domain.values import affected, require_text, signal_fields, signal_marker
from services.incident.domain.vulnerability import declaration

Part = Literal["initial", "cause"]
PARTS: tuple[Part, Part] = ("initial", "cause")
DIRECTION: dict[Party, Direction] = {"utility": "utility_to_operator", "operator": "operator_to_utility"}
MAX_NOTE = 4000
"""The longest note, in characters (Japanese text is ordinary)."""
Blocked = Mapping[str, str]
"""Connections blocked for the incident: connection id → operator id (the connection service's word)."""


class Incident(Aggregate):
    """One incident; its state changes only by applying its events.

    The state is what the decisions need and nothing that grows with the stream: an attached anomaly
    changes no state (its signal is recognised again by its marker, ``markers_of``), so an incident
    with a hundred thousand anomalies restores from the same small snapshot as a new one.
    """

    opened: bool
    cleared: bool
    origin: str
    operator_id: str | None
    operator_ids: list[str]
    assets: list[AffectedAsset]
    detected_at: datetime | None
    connection_id: str | None
    revisions: dict[str, int]
    overdue: set[str]

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.opened, self.cleared, self.origin = False, False, "report"
        self.operator_id, self.operator_ids = None, []
        self.assets, self.detected_at, self.connection_id = [], None, None
        self.revisions, self.overdue = {"initial": 0, "cause": 0}, set()

    @property
    def exists(self) -> bool:
        """An incident exists once it was opened."""
        return self.opened

    def index(self) -> Index:
        """Open incidents (for the deadline timer) and, for one an anomaly opened, its connection while open."""
        if not self.opened or self.cleared:
            return {}
        found: Index = {"open": ["1"]}
        if self.connection_id:
            found["connection"] = [self.connection_id]
        return found

    @classmethod
    def markers_of(cls, event: DomainEvent) -> list[str]:
        """A sensor's signal is recognised again by its id (a redelivered or resent signal adds nothing)."""
        if isinstance(event, (AnomalyDetected, AnomalyAttached)):
            return [signal_marker(event.signal_id)]
        return []

    # ----------------------------------------------------------------- opening

    @classmethod
    def open(cls, incident_id: str, cmd: OpenIncident, *, by: Principal) -> "Incident":
        """A party's report opens an incident: an operator reports for itself (403 naming another)."""
        incident, operator_id = cls(incident_id), by.acts_for(cmd.operator_id)
        if by.party == "operator" and not operator_id:
            raise Invalid("an operator's report names its operator")
        incident._record(
            IncidentOpened(
                incident_id=incident_id, operator_id=operator_id, operator_ids=[operator_id] if operator_id else [],
                category=cmd.category, severity=cmd.severity, title=require_text(cmd.title, "title"),
                description=cmd.description, affected_assets=affected(cmd.affected_assets), detected_at=cmd.detected_at,
                opened_by=by.party, origin="report", tlp=cmd.tlp,
            )
        )  # fmt: skip
        return incident

    @classmethod
    def open_by_anomaly(cls, incident_id: str, anomaly: Anomaly, *, operator_id: str, asset_kind: str) -> "Incident":
        """The first anomaly on a connection opens an incident about it."""
        incident = cls(incident_id)
        incident._record(
            IncidentOpened(
                incident_id=incident_id, operator_id=operator_id, operator_ids=[operator_id], category=anomaly.type,
                severity=anomaly.severity, title=f"{anomaly.type} on connection {anomaly.connection_id}",
                affected_assets=affected((AssetRef(asset_kind, anomaly.connection_id),)), detected_at=anomaly.observed_at,
                opened_by="utility", origin="anomaly", connection_id=anomaly.connection_id,
            )
        )  # fmt: skip
        incident._record(AnomalyDetected(incident_id=incident_id, operator_id=operator_id, **signal_fields(anomaly)))
        return incident

    @classmethod
    def declare_vulnerability(cls, incident_id: str, cmd: DeclareVulnerability, *, now: datetime) -> "Incident":
        """The utility declares a serious vulnerability: a vulnerability incident with its match criteria."""
        incident = cls(incident_id)
        for event in declaration(incident_id, cmd, now=now):
            incident._record(event)
        return incident

    # ----------------------------------------------------------------- life

    def attach(self, anomaly: Anomaly, *, operator_id: str) -> None:
        """A later anomaly on the same connection joins this open incident."""
        self._require_open()
        self._record(AnomalyAttached(incident_id=self.id, operator_id=operator_id, **signal_fields(anomaly)))

    def file_report(self, cmd: FileReport, *, by: Principal, blocked: Blocked) -> int:
        """A party files or revises one report part; returns its revision number."""
        party = self.party_of(by, blocked=blocked)
        self._require_open()
        content = cmd.initial if cmd.part == "initial" else cmd.cause
        if content is None:
            raise Invalid(f"the {cmd.part} report has no content")
        for name, value in content.model_dump().items():
            if isinstance(value, str):
                require_text(value, name)
        if cmd.initial is not None and not cmd.initial.impacts:
            raise Invalid("impacts needs at least one {target, impact} line")
        revision = self.revisions[cmd.part] + 1
        self._record(
            ReportFiled(
                incident_id=self.id, part=cmd.part, revision=revision, filed_by=party, direction=DIRECTION[party],
                initial=cmd.initial if cmd.part == "initial" else None, cause=cmd.cause if cmd.part == "cause" else None,
            )
        )  # fmt: skip
        return revision

    def attach_note(self, cmd: AttachNote, *, by: Principal, blocked: Blocked) -> None:
        """A party concerned attaches a note to the open incident (a party to it, as for a report)."""
        party = self.party_of(by, blocked=blocked)
        self._require_open()
        text = require_text(cmd.text, "text")
        if len(text) > MAX_NOTE:
            raise Invalid(f"a note is at most {MAX_NOTE} characters (this one has {len(text)})")
        self._record(
            IncidentNoteAttached(
                incident_id=self.id, text=text, attached_by=party, author=Actor(kind="person", id=by.sub, role=by.role)
            )
        )

    def clear(self, cmd: ClearIncident, *, by: Principal, blocked: Blocked) -> None:
        """The responsible party declares it resolved, once the cause report is in."""
        party = self.party_of(by, blocked=blocked)
        self._require_open()
        if not self.may_clear(party):
            raise Forbidden(f"the {party} side is not responsible for this incident's assets")
        if self.revisions["cause"] == 0:
            raise Conflict("the incident cannot be cleared before a cause report (要因・対処方法) is filed")
        own = [self.connection_id] if self.connection_id else []
        self._record(
            IncidentCleared(
                incident_id=self.id, summary=require_text(cmd.summary, "summary"), cleared_by=party,
                operator_id=self.operator_id, operator_ids=sorted({*self.operator_ids, *blocked.values()}),
                connection_ids=sorted({*own, *blocked}), decided_by=Actor(kind="person", id=by.sub, role=by.role),
            )
        )  # fmt: skip

    def mark_overdue(self, now: datetime, deadlines: dict[str, timedelta]) -> list[str]:
        """Record ReportOverdue once for each part not filed by its deadline; returns the parts."""
        if not self.opened or self.cleared or self.detected_at is None:
            return []
        late = []
        for part in PARTS:
            due = self.detected_at + deadlines[part]
            if self.revisions[part] == 0 and part not in self.overdue and now >= due:
                self._record(ReportOverdue(incident_id=self.id, part=part, due_at=due, operator_id=self.operator_id))
                late.append(part)
        return late

    # ----------------------------------------------------------------- who

    def party_of(self, caller: Principal, *, blocked: Blocked) -> Party:
        """The party the caller acts as here: the SOC for the utility, a concerned operator for itself; else 404."""
        if caller.role == "utility_soc":
            return "utility"
        if caller.role == "operator" and caller.operator_id in {*self.operator_ids, *blocked.values()}:
            return "operator"
        raise not_found("incident", self.id)

    def may_clear(self, party: Party) -> bool:
        """The utility may always clear; the operator when its side is responsible (not a vulnerability)."""
        if party == "utility":
            return True
        return self.origin != "vulnerability" and "operator" in {asset.side for asset in self.assets}

    def _require_open(self) -> None:
        if not self.opened:
            raise Conflict(f"incident {self.id} was never opened")
        if self.cleared:
            raise Conflict(f"incident {self.id} is already cleared")

    # ----------------------------------------------------------------- apply

    def _apply(self, event: DomainEvent) -> None:
        if isinstance(event, IncidentOpened):
            self.opened, self.origin = True, event.origin
            self.operator_id, self.operator_ids = event.operator_id, list(event.operator_ids)
            self.assets, self.detected_at = list(event.affected_assets), event.detected_at
            self.connection_id = event.connection_id
        elif isinstance(event, ReportFiled):
            self.revisions[event.part] = event.revision
        elif isinstance(event, ReportOverdue):
            self.overdue.add(event.part)
        elif isinstance(event, IncidentCleared):
            self.cleared = True
