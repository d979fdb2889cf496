"""The incident aggregate: opened, reported on in two parts, cleared; anomalies and deadlines."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from shared.domain import Aggregate, Conflict, Invalid
from shared.events import DomainEvent
from shared.events.incident import (
    AffectedAsset,
    AnomalyAttached,
    AnomalyDetected,
    IncidentCleared,
    IncidentOpened,
    ReportFiled,
    ReportOverdue,
    VulnerabilityDeclared,
)
from shared.events.values import Direction, Party
from services.incident.domain.commands import (
    Anomaly,
    AssetRef,
    ClearIncident,
    DeclareVulnerability,
    FileReport,
    OpenIncident,
)
from services.incident.domain.exceptions import NotPermitted
from services.incident.domain.values import affected, require_text, signal_fields
from services.incident.domain.vulnerability import check_criteria, vulnerability_assets

Part = Literal["initial", "cause"]
PARTS: tuple[Part, Part] = ("initial", "cause")
DIRECTION: dict[Party, Direction] = {"utility": "utility_to_operator", "operator": "operator_to_utility"}


class Incident(Aggregate):
    """One incident; its state changes only by applying its events."""

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.opened = False
        self.cleared = False
        self.origin = "report"
        self.operator_id: str | None = None
        self.operator_ids: list[str] = []
        self.assets: list[AffectedAsset] = []
        self.detected_at: datetime | None = None
        self.connection_id: str | None = None
        self.revisions: dict[str, int] = {"initial": 0, "cause": 0}
        self.overdue: set[str] = set()
        self.signals: set[str] = set()

    # ----------------------------------------------------------------- opening

    @classmethod
    def open(cls, incident_id: str, cmd: OpenIncident) -> "Incident":
        """A party's report opens an incident."""
        incident = cls(incident_id)
        if cmd.opened_by == "operator" and not cmd.operator_id:
            raise Invalid("an operator's report names its operator")
        incident._record(
            IncidentOpened(
                incident_id=incident_id,
                operator_id=cmd.operator_id,
                operator_ids=[cmd.operator_id] if cmd.operator_id else [],
                category=cmd.category,
                severity=cmd.severity,
                title=require_text(cmd.title, "title"),
                description=cmd.description,
                affected_assets=affected(cmd.affected_assets),
                detected_at=cmd.detected_at,
                opened_by=cmd.opened_by,
                origin="report",
                tlp=cmd.tlp,
            )
        )
        return incident

    @classmethod
    def open_by_anomaly(cls, incident_id: str, anomaly: Anomaly, *, operator_id: str, asset_kind: str) -> "Incident":
        """The first anomaly on a connection opens an incident about it."""
        incident = cls(incident_id)
        incident._record(
            IncidentOpened(
                incident_id=incident_id,
                operator_id=operator_id,
                operator_ids=[operator_id],
                category=anomaly.type,
                severity=anomaly.severity,
                title=f"{anomaly.type} on connection {anomaly.connection_id}",
                affected_assets=affected((AssetRef(asset_kind, anomaly.connection_id),)),
                detected_at=anomaly.observed_at,
                opened_by="utility",
                origin="anomaly",
                connection_id=anomaly.connection_id,
            )
        )
        incident._record(AnomalyDetected(incident_id=incident_id, operator_id=operator_id, **signal_fields(anomaly)))
        return incident

    @classmethod
    def declare_vulnerability(cls, incident_id: str, cmd: DeclareVulnerability, *, now: datetime) -> "Incident":
        """The utility declares a serious vulnerability: a vulnerability incident with its match criteria."""
        check_criteria(cmd)
        incident = cls(incident_id)
        incident._record(
            IncidentOpened(
                incident_id=incident_id,
                category="vulnerability",
                severity=cmd.severity,
                title=require_text(cmd.title, "title"),
                description=cmd.description,
                affected_assets=affected(vulnerability_assets(cmd)),
                detected_at=cmd.detected_at or now,
                opened_by="utility",
                origin="vulnerability",
                tlp=cmd.tlp,
            )
        )
        incident._record(
            VulnerabilityDeclared(
                incident_id=incident_id,
                title=cmd.title,
                severity=cmd.severity,
                asset_kind=cmd.asset_kind,
                maker=cmd.maker,
                model=cmd.model,
                firmware=cmd.firmware,
                smart_meter_ids=list(cmd.smart_meter_ids),
                description=cmd.description,
            )
        )
        return incident

    # ----------------------------------------------------------------- life

    def attach(self, anomaly: Anomaly, *, operator_id: str) -> None:
        """A later anomaly on the same connection joins this open incident."""
        self._require_open()
        self._record(AnomalyAttached(incident_id=self.id, operator_id=operator_id, **signal_fields(anomaly)))

    def file_report(self, cmd: FileReport) -> int:
        """File or revise one report part; returns its revision number."""
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
                incident_id=self.id,
                part=cmd.part,
                revision=revision,
                filed_by=cmd.filed_by,
                direction=DIRECTION[cmd.filed_by],
                initial=cmd.initial if cmd.part == "initial" else None,
                cause=cmd.cause if cmd.part == "cause" else None,
            )
        )
        return revision

    def clear(self, cmd: ClearIncident) -> None:
        """The responsible party declares it resolved, once the cause report is in."""
        self._require_open()
        if not self.may_clear(cmd.party):
            raise NotPermitted(f"the {cmd.party} side is not responsible for this incident's assets")
        if self.revisions["cause"] == 0:
            raise Conflict("the incident cannot be cleared before a cause report (要因・対処方法) is filed")
        self._record(
            IncidentCleared(
                incident_id=self.id,
                summary=require_text(cmd.summary, "summary"),
                cleared_by=cmd.party,
                operator_id=self.operator_id,
                operator_ids=sorted({*self.operator_ids, *cmd.operator_ids}),
                connection_ids=sorted({*([self.connection_id] if self.connection_id else []), *cmd.connection_ids}),
                decided_by=cmd.decided_by,
            )
        )

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

    @property
    def responsible_sides(self) -> set[str]:
        """The sides responsible for the affected assets."""
        return {asset.side for asset in self.assets}

    def may_clear(self, party: Party) -> bool:
        """The utility may always clear; the operator when its side is responsible (not a vulnerability)."""
        if party == "utility":
            return True
        return self.origin != "vulnerability" and "operator" in self.responsible_sides

    def party_of(self, *, role: str, operator_id: str | None, concerned: set[str]) -> Party | None:
        """The party a caller acts as on this incident, or None when it is not a party to it."""
        if role == "utility_soc":
            return "utility"
        if role == "operator" and operator_id and operator_id in concerned:
            return "operator"
        return None

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
        elif isinstance(event, (AnomalyDetected, AnomalyAttached)):
            self.signals.add(event.signal_id)
        elif isinstance(event, ReportFiled):
            self.revisions[event.part] = event.revision
        elif isinstance(event, ReportOverdue):
            self.overdue.add(event.part)
        elif isinstance(event, IncidentCleared):
            self.cleared = True
