"""Events of the operator aggregate: onboarding and the yearly duties (part 5)."""

from __future__ import annotations

from datetime import date
from typing import ClassVar, Literal

from shared import topics
from shared.events.base import DomainEvent
from shared.events.values import Actor


class OperatorEvent(DomainEvent):
    """Base of the operator aggregate's events (topic ``smguard.operator.events``)."""

    operator_id: str


class OperatorOnboarded(OperatorEvent):
    """The utility onboarded an operator with its agreement date."""

    topic: ClassVar[str] = topics.OPERATOR_EVENTS
    name: str
    agreement_date: date


class RiskAssessmentRecorded(OperatorEvent):
    """The operator recorded a risk assessment (vulnerability survey etc.)."""

    topic: ClassVar[str] = topics.OPERATOR_EVENTS
    assessment_id: str
    date: date
    scope: str
    method: str
    findings_summary: str
    remediation_status: str


class TrainingRecorded(OperatorEvent):
    """The operator recorded security education or an incident drill."""

    topic: ClassVar[str] = topics.OPERATOR_EVENTS
    training_id: str
    date: date
    kind: Literal["education", "incident_drill"]
    participants: int


class LeakageControlsAttested(OperatorEvent):
    """The operator attested how it protects the important information."""

    topic: ClassVar[str] = topics.OPERATOR_EVENTS
    date: date
    controls: list[str]
    attested_by: str
    coverage: dict[str, list[str]] = {}
    """Which of ``controls`` protect which information: ``special_meter_id``, ``auth_id``, ``password``, ``pairing_id``."""


class StatusRequested(OperatorEvent):
    """The utility asked the operator to show how it is doing (運用状況の提示)."""

    topic: ClassVar[str] = topics.OPERATOR_EVENTS
    request_id: str
    subject: str
    reply_by: date
    decided_by: Actor | None = None


class StatusReported(OperatorEvent):
    """The operator answered a status request."""

    topic: ClassVar[str] = topics.OPERATOR_EVENTS
    request_id: str
    summary: str
    records: dict[str, object] = {}


class ComplianceOverdue(OperatorEvent):
    """A yearly duty or a status answer is past its due date."""

    topic: ClassVar[str] = topics.OPERATOR_EVENTS
    item: str
    """``risk_assessment``, ``training:education``, ``training:incident_drill`` or ``status_request:<id>``."""
    due_date: date
    last_done: date | None = None
    """The record the due date counts from; None when it counts from the agreement date (or is a reply date)."""
    detected_on: date | None = None
