"""Events of the incident service (topic ``smguard.incident.events``, key = incident id)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Literal

from shared import topics
from shared.events.base import DomainEvent
from shared.events.values import (
    Actor,
    AnomalyType,
    AssetKind,
    Direction,
    IncidentCategory,
    Party,
    Severity,
    Tlp,
    Value,
)


class AffectedAsset(Value):
    """An asset an incident touches; ``side`` is derived from ``kind`` (part 4)."""

    kind: AssetKind
    id: str
    side: Party


class IncidentEvent(DomainEvent):
    """Base of the incident aggregate's events."""

    incident_id: str


class IncidentOpened(IncidentEvent):
    """An incident was opened: by a party's report, an anomaly or a declared vulnerability."""

    topic: ClassVar[str] = topics.INCIDENT_EVENTS
    operator_id: str | None = None
    operator_ids: list[str] = []
    category: IncidentCategory
    severity: Severity
    title: str
    description: str = ""
    affected_assets: list[AffectedAsset] = []
    detected_at: datetime
    opened_by: Party
    origin: Literal["report", "anomaly", "vulnerability"] = "report"
    tlp: Tlp = "AMBER"
    connection_id: str | None = None


class AnomalyDetected(IncidentEvent):
    """A sensor's anomaly signal that opened the incident it is recorded on."""

    topic: ClassVar[str] = topics.INCIDENT_EVENTS
    signal_id: str
    connection_id: str
    operator_id: str
    anomaly_type: AnomalyType
    severity: Severity
    observed_at: datetime
    evidence: Any = None


class AnomalyAttached(IncidentEvent):
    """A later anomaly signal on a connection whose incident is still open."""

    topic: ClassVar[str] = topics.INCIDENT_EVENTS
    signal_id: str
    connection_id: str
    operator_id: str
    anomaly_type: AnomalyType
    severity: Severity
    observed_at: datetime
    evidence: Any = None


class VulnerabilityDeclared(IncidentEvent):
    """The utility declared a serious vulnerability; the match criteria select affected units."""

    topic: ClassVar[str] = topics.INCIDENT_EVENTS
    title: str
    severity: Severity
    asset_kind: AssetKind
    maker: str | None = None
    model: str | None = None
    firmware: str | None = None
    smart_meter_ids: list[str] = []
    description: str = ""


class ImpactLine(Value):
    """One line of the impact list: a device or system and the impact on it."""

    target: str
    impact: str


class InitialReport(Value):
    """Part (i) 発生事象・対処計画: event, location, impact on each device and system, plan."""

    event: str
    location: str
    impacts: list[ImpactLine]
    response_plan: str


class CauseReport(Value):
    """Part (ii) 要因・対処方法: cause, countermeasure, its plan, recurrence prevention."""

    cause: str
    countermeasure: str
    countermeasure_plan: str
    recurrence_prevention: str


class ReportFiled(IncidentEvent):
    """A report part was filed or revised; every revision is kept."""

    topic: ClassVar[str] = topics.INCIDENT_EVENTS
    part: Literal["initial", "cause"]
    revision: int
    filed_by: Party
    direction: Direction
    initial: InitialReport | None = None
    cause: CauseReport | None = None


class ReportOverdue(IncidentEvent):
    """A report part was not filed by its deadline."""

    topic: ClassVar[str] = topics.INCIDENT_EVENTS
    part: Literal["initial", "cause"]
    due_at: datetime
    operator_id: str | None = None


class IncidentNoteAttached(IncidentEvent):
    """A party concerned attached a note to the open incident (free text, neither report part).

    The party (``attached_by``) and the person (``author``) who wrote it; the tenant is the envelope's, as
    for a report: an operator's note is that operator's, the utility's note is for the incident's operator.
    """

    topic: ClassVar[str] = topics.INCIDENT_EVENTS
    text: str
    attached_by: Party
    author: Actor | None = None


class IncidentCleared(IncidentEvent):
    """The incident is resolved (解消); its blocks may move on to reconnection approval."""

    topic: ClassVar[str] = topics.INCIDENT_EVENTS
    summary: str
    cleared_by: Party
    operator_id: str | None = None
    operator_ids: list[str] = []
    connection_ids: list[str] = []
    decided_by: Actor | None = None
