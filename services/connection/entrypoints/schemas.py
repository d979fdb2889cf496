"""HTTP input and output models (``XCreate`` strict input, ``XPublic`` output).

Every string and list is bounded (characters, not bytes), every day a caller supplies too.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, StringConstraints, field_validator

from services.connection.domain.policy import POLICY_ID
from shared.events.values import AssetKind, BlockReason, Party
from shared.schemas import Day, within_a_year

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Note = Annotated[str, StringConstraints(max_length=4000)]
Ident = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[^\s/\\?#%]+$")]
"""An identifier: any Unicode text without whitespace or URL-breaking characters."""
Secret = Annotated[SecretStr, Field(min_length=1, max_length=256)]
Mode = Literal["auto", "recommend", "off"]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
Control = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
Deadline = Annotated[Day, AfterValidator(within_a_year)]
"""A day the utility sets for something to happen: not more than a year ahead."""
Information = Literal["special_meter_id", "auth_id", "password", "pairing_id"]


class Input(BaseModel):
    """Strict HTTP input: unknown fields are a 422."""

    model_config = ConfigDict(extra="forbid")


class OperatorCreate(Input):
    """Onboard an operator."""

    operator_id: Ident
    name: Text
    agreement_date: Deadline

    @field_validator("operator_id")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        # Stream ids of one store share a namespace: these belong to the policy and the connections.
        if value == POLICY_ID or value.startswith("conn-"):
            raise ValueError("this operator id is reserved")
        return value


class SecretsCreate(Input):
    """Write-only secrets of a connection (never echoed, not even in a 422)."""

    auth_id: Secret
    password: Secret
    pairing_id: Secret


class ConnectionCreate(Input):
    """Register a connection; ``operator_id`` only when the utility registers it."""

    operator_id: Ident | None = None
    kind: AssetKind
    maker: Text
    model: Text
    firmware: Text
    smart_meter_ids: list[Ident] = Field(default_factory=list, max_length=1000)
    secrets: SecretsCreate


class BulkRowPublic(BaseModel):
    """One row of a bulk registration: registered (``id``, ``version``) or refused (``errors``: where and why,
    never the value). Rows count from 1 (CSV: the records after the header, blank lines skipped)."""

    row: int
    id: str | None = None
    version: int | None = None
    errors: list[dict[str, Any]] | None = None


class BulkPublic(BaseModel):
    """A bulk registration's answer: how many rows were registered and refused, and each row in order."""

    registered: int
    refused: int
    rows: list[BulkRowPublic]


class BlockCreate(Input):
    """An analyst blocks a connection for an incident."""

    reason: BlockReason
    incident_id: Ident
    note: Note = ""


class ApprovalCreate(Input):
    """A party approves reconnection."""

    note: Note = ""


class DecisionCreate(Input):
    """Confirm or reject a recommendation."""

    note: Note = ""


class BlockPolicyUpdate(Input):
    """Some or all reasons' modes."""

    serious_vulnerability: Mode | None = None
    unauthorized_access: Mode | None = None
    abnormal_communication: Mode | None = None


class Created(BaseModel):
    """A created object's id."""

    id: str
    version: int | None = None


class HoldPublic(BaseModel):
    """An incident blocking the connection."""

    incident_id: str
    reason: BlockReason
    decided_by: dict[str, str | None]
    blocked_at: datetime | None
    request_id: str


class RequestPublic(BaseModel):
    """An enforcement request and its state."""

    request_id: str
    action: Literal["block", "reconnect"]
    state: Literal["pending", "enforced", "escalated"]
    incident_id: str | None
    requested_at: datetime | None
    enforced_at: datetime | None
    attempts: int
    last_error: str | None


class ConnectionPublic(BaseModel):
    """A connection as callers may see it: secrets only as masked hints."""

    id: str
    operator_id: str
    kind: str
    maker: str
    model: str
    firmware: str
    smart_meter_ids: list[str]
    status: Literal["active", "blocked", "awaiting_approval"]
    blocking_incidents: list[HoldPublic]
    approvals: dict[Party, dict[str, str | None] | None]
    enforcement: Literal["none", "pending", "enforced", "escalated"]
    enforcement_requests: list[RequestPublic]
    compromised: bool
    compromised_by: list[str]
    secrets: dict[str, str]
    version: int
    registered_at: datetime | None
    updated_at: datetime | None


class ConnectionsPublic(BaseModel):
    """A page of connections."""

    items: list[ConnectionPublic]
    total: int
    offset: int
    limit: int
    next_offset: int | None


class OperatorReachPublic(BaseModel):
    """How many of one operator's connections a vulnerability concerns."""

    operator_id: str
    connections: int


class VulnerabilityReachPublic(BaseModel):
    """What declaring a vulnerability with these criteria would concern now (``GET /connections/matching``)."""

    connections: int
    operators: int
    by_operator: list[OperatorReachPublic]
    policy: Mode
    """The ``serious_vulnerability`` mode in force: ``auto`` blocks them, ``recommend`` raises recommendations."""
    complete: bool
    """False when there were more candidates than the service reads for a preview (the counts are a lower bound)."""


class OperatorPublic(BaseModel):
    """An onboarded operator as the list shows it (its compliance is ``GET /operators/{id}/compliance``)."""

    operator_id: str
    name: str
    agreement_date: date
    version: int


class OperatorsPublic(BaseModel):
    """A page of operators in id order."""

    items: list[OperatorPublic]
    total: int
    offset: int
    limit: int
    next_offset: int | None


class RecommendationPublic(BaseModel):
    """An open block recommendation."""

    id: str
    connection_id: str
    operator_id: str
    reason: BlockReason
    incident_id: str


# ---------------------------------------------------------------------- part 5: compliance


class AssessmentCreate(Input):
    """A risk assessment (vulnerability survey etc.) the operator ran."""

    date: Day
    scope: LongText
    method: LongText
    findings_summary: LongText
    remediation_status: LongText


class TrainingCreate(Input):
    """Security education or an incident-response drill given to the operator's system users."""

    date: Day
    kind: Literal["education", "incident_drill"]
    participants: int = Field(ge=1, le=1_000_000)


class LeakageControlsCreate(Input):
    """How the important information is protected; ``coverage`` says which controls protect what."""

    date: Day
    controls: list[Control] = Field(min_length=1, max_length=50)
    attested_by: Text
    coverage: dict[Information, Annotated[list[Control], Field(max_length=50)]] = Field(default_factory=dict)


class StatusRequestCreate(Input):
    """The utility asks the operator to show how it is doing (運用状況の提示)."""

    subject: LongText
    reply_by: Deadline


class StatusReportCreate(Input):
    """The operator's answer to a status request."""

    request_id: Ident
    summary: LongText
