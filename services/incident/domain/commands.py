"""Commands of the incident service: what a caller asks for, before the rules decide.

Who asks (and so which party acts) is not part of a command: the aggregate's decisions are given
the caller, and the rules of ``domain/model.py`` say which party that makes it on the incident.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from shared.events.incident import CauseReport, InitialReport
from shared.events.values import AnomalyType, IncidentCategory, Severity, Tlp


@dataclass(frozen=True)
class AssetRef:
    """An affected asset as a caller names it (the responsible side is derived, never given)."""

    kind: str
    id: str


@dataclass(frozen=True)
class OpenIncident:
    """A party reports an incident (the utility names the operator it concerns)."""

    category: IncidentCategory
    severity: Severity
    title: str
    detected_at: datetime
    description: str = ""
    affected_assets: tuple[AssetRef, ...] = ()
    operator_id: str | None = None
    tlp: Tlp = "AMBER"


@dataclass(frozen=True)
class FileReport:
    """A party files (or revises) one part of the report."""

    part: Literal["initial", "cause"]
    initial: InitialReport | None = None
    cause: CauseReport | None = None


@dataclass(frozen=True)
class ClearIncident:
    """The responsible party declares the incident resolved."""

    summary: str


@dataclass(frozen=True)
class AttachNote:
    """A party concerned attaches a note to the incident (free text, neither report part)."""

    text: str


@dataclass(frozen=True)
class Anomaly:
    """A sensor's anomaly signal on one connection."""

    signal_id: str
    connection_id: str
    type: AnomalyType
    severity: Severity
    observed_at: datetime
    evidence: Any = None


@dataclass(frozen=True)
class DeclareVulnerability:
    """The utility declares a serious vulnerability and the criteria that select affected units."""

    title: str
    severity: Severity
    asset_kind: str
    maker: str | None = None
    model: str | None = None
    firmware: str | None = None
    smart_meter_ids: tuple[str, ...] = ()
    description: str = ""
    tlp: Tlp = "AMBER"
    detected_at: datetime | None = None
