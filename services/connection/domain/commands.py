"""Commands of the connection service: what a caller asks for, before the rules decide.

Who asks is not part of a command: handlers are given the caller, and derive from it the tenant a
write is for, the side of the agreement that approves, and the person the events name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from shared.events.values import BlockReason


@dataclass(frozen=True)
class OnboardOperator:
    """The utility onboards an operator that signed the agreement."""

    operator_id: str
    name: str
    agreement_date: date


@dataclass(frozen=True)
class RegisterConnection:
    """Operator equipment to attach (the utility names the operator; an operator registers for itself)."""

    kind: str
    maker: str
    model: str
    firmware: str
    smart_meter_ids: tuple[str, ...] = ()
    operator_id: str | None = None


@dataclass(frozen=True)
class BlockConnection:
    """An analyst blocks a connection for an incident."""

    reason: BlockReason
    incident_id: str
    note: str = ""


@dataclass(frozen=True)
class RecordAssessment:
    """A risk assessment (vulnerability survey etc.) the operator ran."""

    on: date
    scope: str
    method: str
    findings_summary: str
    remediation_status: str


@dataclass(frozen=True)
class RecordTraining:
    """Security education or an incident drill the operator gave its system users."""

    on: date
    kind: str
    participants: int


@dataclass(frozen=True)
class AttestLeakageControls:
    """How the important information is protected; ``coverage`` names the controls per information."""

    on: date
    controls: tuple[str, ...]
    attested_by: str
    coverage: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class RequestStatus:
    """The utility asks the operator to show how it is doing by ``reply_by``."""

    subject: str
    reply_by: date


@dataclass(frozen=True)
class ReportStatus:
    """The operator answers a status request."""

    request_id: str
    summary: str
