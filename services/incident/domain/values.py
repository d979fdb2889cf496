"""Small rules the incident aggregate applies to what callers give it."""

from __future__ import annotations

from shared.domain import Invalid
from shared.events.incident import AffectedAsset
from shared.events.values import responsible_side
from services.incident.domain.commands import Anomaly, AssetRef


def require_text(value: str | None, name: str) -> str:
    """A required free-text field: any language, but not blank."""
    if value is None or not value.strip():
        raise Invalid(f"{name} is required and may not be blank")
    return value


def affected(assets: tuple[AssetRef, ...]) -> list[AffectedAsset]:
    """Affected assets with the side responsible for each (part 4 of the agreement)."""
    try:
        return [AffectedAsset(kind=a.kind, id=require_text(a.id, "asset id"), side=responsible_side(a.kind)) for a in assets]
    except ValueError as exc:
        raise Invalid(str(exc)) from None


def signal_fields(anomaly: Anomaly) -> dict[str, object]:
    """The fields an anomaly event copies from the signal."""
    return {
        "signal_id": anomaly.signal_id,
        "connection_id": anomaly.connection_id,
        "anomaly_type": anomaly.type,
        "severity": anomaly.severity,
        "observed_at": anomaly.observed_at,
        "evidence": anomaly.evidence,
    }


def signal_marker(signal_id: str) -> str:
    """The key a sensor's signal is recognised by again, within the store's key window."""
    return f"signal:{signal_id}"


def overdue_key(incident_id: str, part: str) -> str:
    """The key of an incident's ReportOverdue for one part (recorded once, a restart does not repeat it)."""
    return f"overdue:{incident_id}:{part}"
