"""Commands of the connection service: what a caller asks for, before the rules decide.

Who asks is not part of an HTTP command: handlers are given the caller, and derive from it the
tenant a write is for, the side of the agreement that approves, and the person the events name.
The inbox commands (at the end) are what the router makes of the incident service's events; they
travel as JSON on ``smguard.connection.commands`` and name the incident event they come from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

from shared.events.values import AnomalyType, BlockReason, Party


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


# ---------------------------------------------------------------------- the inbox (from the router)


class InboxCommand(BaseModel):
    """A command for the owner of a connection's partition, made of one incident event (``source``, written ``at``)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    source: str
    incident_id: str
    at: datetime
    correlation_id: str | None = None
    traceparent: str | None = None


class ApplyPolicy(InboxCommand):
    """An anomaly on a connection: the block policy in force at ``at`` decides (keyed by the connection)."""

    type: Literal["apply_policy"] = "apply_policy"
    connection_id: str
    reason: AnomalyType


class MatchVulnerability(InboxCommand):
    """A declared vulnerability: each owner blocks its matching connections (sent to every partition)."""

    type: Literal["vulnerability"] = "vulnerability"
    asset_kind: str
    maker: str | None = None
    model: str | None = None
    firmware: str | None = None
    smart_meter_ids: list[str] = Field(default_factory=list, max_length=10_000)


class ReleaseHolds(InboxCommand):
    """An incident was cleared: each owner releases the connections it holds (sent to every partition)."""

    type: Literal["cleared"] = "cleared"


class MarkCompromised(InboxCommand):
    """A credential leak names the connection (keyed by it); ``opened_by`` and ``reporter`` say who reported it.

    An operator's report marks only that operator's own connections. The defaults (a command made
    before the router said who reported) fail closed: an operator's report with no operator marks nothing.
    """

    type: Literal["compromised"] = "compromised"
    connection_id: str
    opened_by: Party = "operator"
    reporter: str | None = None

    @property
    def reporting_operator(self) -> str | None:
        """The operator that reported the leak ("" for an unknown one); None when the utility reported it."""
        return (self.reporter or "") if self.opened_by == "operator" else None


Reaction = Annotated[Union[ApplyPolicy, MatchVulnerability, ReleaseHolds, MarkCompromised], Field(discriminator="type")]
"""Any inbox command, told apart by its ``type``."""
