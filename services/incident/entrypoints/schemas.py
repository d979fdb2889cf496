"""HTTP bodies of the incident service: strict input (XCreate), plain answers (XPublic).

Every string, list and free-form field is bounded (characters, not bytes: Japanese text is ordinary)
so that the largest body a route accepts still makes one event the broker takes.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from shared.events.values import AnomalyType, AssetKind, IncidentCategory, Severity, Tlp
from shared.schemas import BoundedJson, PastTime


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("may not be blank")
    return value


Text = Annotated[str, Field(min_length=1, max_length=10000), AfterValidator(_not_blank)]
"""A report's paragraph: up to 10,000 characters (several pages of Japanese)."""
Title = Annotated[str, Field(min_length=1, max_length=500), AfterValidator(_not_blank)]
Name = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_not_blank)]
Description = Annotated[str, Field(max_length=20000)]
MAX_ASSETS, MAX_IMPACTS, MAX_METERS = 200, 50, 10000


class Strict(BaseModel):
    """Input: unknown fields are an error (422), not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class AssetCreate(Strict):
    """An affected asset: its kind (the responsible side follows from it) and id."""

    kind: AssetKind
    id: Name


class IncidentCreate(Strict):
    """A party's incident report."""

    category: IncidentCategory
    severity: Severity
    title: Title
    description: Description = ""
    affected_assets: list[AssetCreate] = Field(default=[], max_length=MAX_ASSETS)
    detected_at: PastTime
    operator_id: Name | None = None
    tlp: Tlp = "AMBER"


class ImpactCreate(Strict):
    """One device or system and the impact on it."""

    target: Name
    impact: Annotated[str, Field(min_length=1, max_length=1000), AfterValidator(_not_blank)]


class InitialReportCreate(Strict):
    """Part (i) 発生事象・対処計画."""

    event: Text
    location: Text
    impacts: list[ImpactCreate] = Field(min_length=1, max_length=MAX_IMPACTS)
    response_plan: Text


class CauseReportCreate(Strict):
    """Part (ii) 要因・対処方法."""

    cause: Text
    countermeasure: Text
    countermeasure_plan: Text
    recurrence_prevention: Text


class ClearCreate(Strict):
    """Declaring the incident resolved (解消)."""

    summary: Text


class NoteCreate(Strict):
    """A note attached to the incident: free text, neither report part (at most 4,000 characters)."""

    text: Annotated[str, Field(min_length=1, max_length=4000), AfterValidator(_not_blank)]


class AnomalyCreate(Strict):
    """A sensor's anomaly signal (also the JSON of a record on the sensor topic)."""

    signal_id: Name
    connection_id: Name
    type: AnomalyType
    severity: Severity
    observed_at: PastTime
    evidence: BoundedJson = None


class AnomalyTopicRecord(AnomalyCreate):
    """A record on the sensor topic: the same fields, tolerant of extra ones a sensor adds."""

    model_config = ConfigDict(extra="ignore")


class VulnerabilityCreate(Strict):
    """A serious vulnerability and its match criteria."""

    title: Title
    severity: Severity
    asset_kind: AssetKind
    maker: Name | None = None
    model: Name | None = None
    firmware: Name | None = None
    smart_meter_ids: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(default=[], max_length=MAX_METERS)
    description: Description = ""
    tlp: Tlp = "AMBER"


class IncidentWritten(BaseModel):
    """The incident a write touched, its status and version."""

    id: str
    status: str
    version: int


class ReportWritten(BaseModel):
    """The revision a report filing created."""

    revision: int
    version: int


class NoteWritten(BaseModel):
    """The incident a note was attached to, and its version after the note (the note's sequence)."""

    incident_id: str
    version: int


class AnomalyAccepted(BaseModel):
    """What became of an anomaly signal."""

    incident_id: str
    attached: bool
    duplicate: bool


class VulnerabilityDeclaredPublic(BaseModel):
    """The vulnerability incident opened."""

    incident_id: str
    version: int
