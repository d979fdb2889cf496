"""Builders for the incident tests: request bodies, and connection events produced as the connection service would."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timezone
from typing import Any

from aiokafka import AIOKafkaProducer

from tests.factories import listening  # noqa: F401  (the replay tests import it from here)
from shared.config import Settings
from shared.envelope import Envelope, encode, kafka_headers
from shared.events import DomainEvent
from shared.events.connection import ConnectionBlocked, ConnectionRegistered, SealedSecrets
from shared.events.values import Actor
from shared.kafka.admin import ensure_topics
from shared.topics import CONNECTION_EVENTS

DETECTED = datetime(2026, 4, 1, 9, 0, tzinfo=timezone.utc)


def uid(prefix: str) -> str:
    """A unique id for one test."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def registered(connection_id: str, operator_id: str, kind: str = "special_meter") -> ConnectionRegistered:
    """A ConnectionRegistered event as the connection service would publish it."""
    secrets = SealedSecrets(ciphertext="x", fingerprint="f", hints={"auth_id": "****"})
    return ConnectionRegistered(
        connection_id=connection_id, operator_id=operator_id, kind=kind,
        maker="メーカーA", model="SM-1", firmware="1.2", secrets=secrets,
    )  # fmt: skip


def blocked(connection_id: str, operator_id: str, incident_id: str) -> ConnectionBlocked:
    """A ConnectionBlocked event for an incident."""
    return ConnectionBlocked(
        connection_id=connection_id, operator_id=operator_id, reason="serious_vulnerability",
        incident_id=incident_id, decided_by=Actor(kind="policy", id="auto"), request_id=uid("req"),
    )  # fmt: skip


async def publish_connection_events(settings: Settings, events: list[DomainEvent]) -> None:
    """Produce connection events (CloudEvents envelope) as the connection service would."""
    await ensure_topics(settings)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    await producer.start()
    try:
        sequences: dict[str, int] = {}
        for event in events:
            subject = getattr(event, "connection_id")
            sequences[subject] = sequences.get(subject, 0) + 1
            envelope = Envelope(
                event=event, subject=subject, sequence=sequences[subject],
                source="smguard/connection", operator_id=getattr(event, "operator_id", None),
            )  # fmt: skip
            message = encode(envelope)
            await producer.send_and_wait(
                settings.topic(CONNECTION_EVENTS), message.value, key=message.key, headers=kafka_headers(message)
            )
    finally:
        await producer.stop()


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
