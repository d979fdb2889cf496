"""What only the incident tests need: request bodies, and the incident service as the tests start it."""

from __future__ import annotations

from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any, AsyncIterator

import httpx
from fastapi import FastAPI

from shared.config import Settings
from shared.topics import CONNECTION_EVENTS
from services.incident.application.service import IncidentService
from services.incident.bootstrap import build_app
from services.incident.config import IncidentSettings
from tests.factories import DETECTED, StandInWriter, connection_registered, eventually, serving


def soon_after_detection() -> datetime:
    """A fixed clock an hour after detection: no report deadline passes during a test that uses it."""
    return DETECTED + timedelta(hours=1)


def incident_app(settings: Settings, *, options: IncidentSettings | None = None, clock: Any = soon_after_detection) -> FastAPI:
    """The incident service on the test's own topics."""
    return build_app(settings, options=options, clock=clock)


@asynccontextmanager
async def running(settings: Settings, **options: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The incident service (``incident_app(settings, **options)``) once it owns its partitions, and a client to
    it; ``client.app`` is the app, ``client.svc`` its IncidentService."""
    app = incident_app(settings, **options)
    async with serving(app) as client:
        await eventually(lambda: app.state.runtime.store.ready, what="the incident service owns its partitions")
        client.app, client.svc, client.settings = app, app.state.service, settings  # type: ignore[attr-defined]
        yield client


def connection_service(settings: Settings) -> StandInWriter:
    """A writer of connection events as the connection service publishes them (``async with`` it)."""
    return StandInWriter(settings, [CONNECTION_EVENTS], source="smguard/connection")


async def registered(settings: Settings, connection_id: str, operator_id: str, *, kind: str = "special_meter") -> None:
    """The connection service announced the connection."""
    async with connection_service(settings) as connections:
        await connections.append(connection_id, [connection_registered(connection_id, operator_id, kind=kind)])


async def known(svc: IncidentService, connection_id: str) -> None:
    """Wait until the service's connection directory knows the connection."""
    await eventually(lambda: svc.directory.connection(connection_id), what=f"connection {connection_id} is known")


def incident_body(**overrides: Any) -> dict[str, Any]:
    """A valid incident report body."""
    body: dict[str, Any] = {
        "category": "terminal_loss",
        "severity": "high",
        "title": "無線端末の紛失",
        "description": "営業所で無線端末を紛失しました。",
        "affected_assets": [{"kind": "wireless_terminal", "id": "WT-001"}],
        "detected_at": DETECTED.isoformat(),
    }
    body.update(overrides)
    return body


def anomaly_body(connection_id: str, signal_id: str, **overrides: Any) -> dict[str, Any]:
    """A valid anomaly signal body (also the JSON of a record on the sensor topic)."""
    body: dict[str, Any] = {
        "signal_id": signal_id, "connection_id": connection_id, "type": "unauthorized_access",
        "severity": "high", "observed_at": DETECTED.isoformat(), "evidence": {"ルール": "HES-17", "count": 3},
    }  # fmt: skip
    body.update(overrides)
    return body


VULNERABILITY = {
    "title": "ファームウェアの重大な脆弱性", "severity": "critical", "asset_kind": "special_meter",
    "maker": "メーカーA", "model": "SM-1", "firmware": ">=1.0,<1.4",
}  # fmt: skip
INITIAL = {
    "event": "無線端末の紛失",
    "location": "名古屋営業所",
    "impacts": [{"target": "特例計量器 SP-1", "impact": "通信停止の可能性"}],
    "response_plan": "認証情報を失効させる",
}
CAUSE = {
    "cause": "持ち出し管理の不備",
    "countermeasure": "端末の遠隔ロック",
    "countermeasure_plan": "4月中に全端末へ適用",
    "recurrence_prevention": "持ち出し台帳の運用",
}
