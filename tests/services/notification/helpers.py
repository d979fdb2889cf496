"""Builders of domain events and envelopes for the notification tests."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

from shared.envelope import Envelope
from shared.events import DomainEvent
from shared.events.connection import ConnectionBlocked
from shared.events.incident import CauseReport, ImpactLine, InitialReport, ReportFiled
from shared.events.notification import Recipient
from shared.events.values import Actor
from services.notification.domain.recipients import Desk

SOC = Actor(kind="person", id="soc-analyst", role="utility_soc")


def uid(prefix: str) -> str:
    """A unique id with a readable prefix."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def envelope(event: DomainEvent, subject: str, **kwargs: object) -> Envelope:
    """An envelope as another service would have written it."""
    return Envelope(event=event, subject=subject, sequence=1, source="smguard/test", **kwargs)  # type: ignore[arg-type]


def blocked(operator_id: str, *, reason: str = "unauthorized_access", incident_id: str | None = None) -> ConnectionBlocked:
    """A connection of the operator blocked for an incident."""
    return ConnectionBlocked(
        connection_id=uid("conn"), operator_id=operator_id, reason=reason, incident_id=incident_id or uid("inc"),
        decided_by=SOC, note="不正アクセスを検知", request_id=uid("req"),
    )


def report(incident_id: str, *, direction: str = "operator_to_utility", part: str = "initial") -> ReportFiled:
    """A report filed on an incident, with every field in Japanese."""
    initial = InitialReport(
        event="無線端末の紛失", location="名古屋市東区の変電所",
        impacts=[ImpactLine(target="特例計量器 SM-001", impact="通信停止")], response_plan="認証情報を無効化する",
    )
    cause = CauseReport(
        cause="保守員の置き忘れ", countermeasure="端末の遠隔ロック", countermeasure_plan="2026年12月までに全端末へ適用",
        recurrence_prevention="持ち出し管理簿の運用",
    )
    return ReportFiled(
        incident_id=incident_id, part=part, revision=1, filed_by="operator" if direction == "operator_to_utility" else "utility",
        direction=direction, initial=initial if part == "initial" else None, cause=cause if part == "cause" else None,
    )


FIXED_TIME = datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)
DESK = Desk(
    primary=Recipient(kind="utility_desk", name="ネットワークサービスセンター託送運営グループ", email="desk@utility.example"),
    fallback=Recipient(kind="utility_desk", name="fallback", email="fallback@utility.example"),
)
