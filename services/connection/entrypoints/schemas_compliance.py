"""HTTP input models of part 5 (compliance records and status requests)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from services.connection.entrypoints.schemas import Ident, Input, Text

LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
Information = Literal["special_meter_id", "auth_id", "password", "pairing_id"]


class AssessmentCreate(Input):
    """A risk assessment (vulnerability survey etc.) the operator ran."""

    date: date
    scope: LongText
    method: LongText
    findings_summary: LongText
    remediation_status: LongText


class TrainingCreate(Input):
    """Security education or an incident-response drill given to the operator's system users."""

    date: date
    kind: Literal["education", "incident_drill"]
    participants: int = Field(ge=1, le=1_000_000)


class LeakageControlsCreate(Input):
    """How the important information is protected; ``coverage`` says which controls protect what."""

    date: date
    controls: list[LongText] = Field(min_length=1, max_length=100)
    attested_by: Text
    coverage: dict[Information, list[LongText]] = Field(default_factory=dict)


class StatusRequestCreate(Input):
    """The utility asks the operator to show how it is doing (運用状況の提示)."""

    subject: LongText
    reply_by: date


class StatusReportCreate(Input):
    """The operator's answer to a status request."""

    request_id: Ident
    summary: LongText
