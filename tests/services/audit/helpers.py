"""Builders for audit tests: events of every service, written with real Kafka event stores."""

from __future__ import annotations

import uuid
from contextlib import asynccontextmanager
from datetime import date, datetime, timezone
from typing import AsyncIterator

from shared.config import Settings
from tests.factories import bearer, listening  # noqa: F401  (the API tests import it from here)
from shared.events.connection import ConnectionBlocked, ConnectionRegistered, SealedSecrets
from shared.events.contact import ContactRegistered
from shared.events.incident import IncidentOpened
from shared.events.notification import NotificationQueued, Recipient
from shared.events.operator import OperatorOnboarded
from shared.events.values import Actor
from shared.eventstore import Context
from shared.eventstore.kafka import KafkaEventStore
from shared.kafka.admin import ensure_topics
from shared.topics import EVENT_TOPICS

SOC = Actor(kind="person", id="soc-analyst-1", role="utility_soc")


def uid(prefix: str) -> str:
    """A unique id with a readable prefix."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@asynccontextmanager
async def event_stores(settings: Settings, service: str) -> AsyncIterator[KafkaEventStore]:
    """A started event store over every event topic, with a transactional id unique to this test."""
    await ensure_topics(settings)
    store = KafkaEventStore(
        bootstrap=settings.kafka_bootstrap_servers,
        topics={base: settings.topic(base) for base in EVENT_TOPICS},
        source=f"smguard/{service}",
        transactional_id=f"{settings.topic_prefix}{service}.{uuid.uuid4().hex[:6]}",
    )
    await store.start()
    try:
        yield store
    finally:
        await store.stop()


def opened(incident_id: str, operator_id: str, title: str = "不正アクセスの検知") -> IncidentOpened:
    """An incident opened by the utility for one operator."""
    return IncidentOpened(
        incident_id=incident_id, operator_id=operator_id, category="unauthorized_access", severity="high",
        title=title, detected_at=datetime(2025, 4, 1, 0, 30, tzinfo=timezone.utc), opened_by="utility",
    )


def registered(connection_id: str, operator_id: str) -> ConnectionRegistered:
    """A special meter connection."""
    secrets = SealedSecrets(ciphertext="x", fingerprint="f", hints={"auth_id": "ab**"})
    return ConnectionRegistered(connection_id=connection_id, operator_id=operator_id, kind="special_meter",
                                maker="M", model="X1", firmware="1.0", secrets=secrets)


def blocked(connection_id: str, operator_id: str, incident_id: str) -> ConnectionBlocked:
    """The utility blocked a connection for an incident."""
    return ConnectionBlocked(connection_id=connection_id, operator_id=operator_id, reason="unauthorized_access",
                             incident_id=incident_id, decided_by=SOC, request_id=uid("req"))


def ctx(operator_id: str, actor: str = "soc-analyst-1") -> Context:
    """An append context for a tenant."""
    return Context(actor=actor, operator_id=operator_id)




async def produce_one_of_each(settings) -> dict[str, str]:
    """One event into each of the incident, connection, operator, contact and notification topics."""
    op, inc, con, note = uid("op"), uid("inc"), uid("con"), uid("note")
    async with event_stores(settings, "producer") as store:
        await store.append(op, [OperatorOnboarded(operator_id=op, name="東海スマートエナジー", agreement_date=date(2025, 1, 1))], context=ctx(op))
        await store.append(op, [ContactRegistered(operator_id=op, kind="applicant", name="山田 太郎", organisation="東海", email="a@example.jp", phone="052")], context=ctx(op))
        await store.append(inc, [opened(inc, op)], context=ctx(op))
        await store.append(con, [registered(con, op)], context=ctx(op))
        await store.append(con, [blocked(con, op, inc)], context=ctx(op))
        queued = NotificationQueued(notification_id=note, domain_event_id="e1", domain_event_type="IncidentOpened",
                                    operator_id=op, subject_id=inc, route="utility_to_operator", channel="email",
                                    recipient=Recipient(kind="applicant", operator_id=op, name="山田 太郎"), title="通知")
        await store.append(note, [queued], context=ctx(op))
    return {"operator": op, "incident": inc, "connection": con, "notification": note}


async def all_entries(client, settings) -> list[dict]:
    answer = await client.get("/audit/entries", params={"limit": 500}, headers=bearer(settings, "auditor"))
    return answer.json()["items"]
