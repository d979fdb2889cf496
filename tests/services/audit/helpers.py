"""What only the audit tests need: one event in each event topic, raw records, and every entry the log shows."""

from __future__ import annotations

from typing import Any

import httpx

from shared.config import Settings
from shared.envelope import encode
from shared.events.contact import ContactRegistered
from shared.events.notification import NotificationQueued, Recipient
from shared.replay.records import Record
from shared.topics import EVENT_TOPICS
from tests.factories import (
    SOC,
    StandInWriter,
    bearer,
    connection_blocked,
    connection_registered,
    envelope,
    incident_opened,
    operator_onboarded,
    uid,
)


async def produce_one_of_each(settings: Settings) -> dict[str, str]:
    """One event into each of the incident, connection, operator, contact and notification topics (six in all)."""
    op, inc, con, note = uid("op"), uid("inc"), uid("con"), uid("note")
    contact = ContactRegistered(operator_id=op, kind="applicant", name="山田 太郎", organisation="東海",
                                email="a@example.jp", phone="052")  # fmt: skip
    queued = NotificationQueued(notification_id=note, domain_event_id="e1", domain_event_type="IncidentOpened",
                                operator_id=op, subject_id=inc, route="utility_to_operator", channel="email",
                                recipient=Recipient(kind="applicant", operator_id=op, name="山田 太郎"), title="通知")  # fmt: skip
    async with StandInWriter(settings, EVENT_TOPICS, source="smguard/producer") as writer:
        await writer.append(op, [operator_onboarded(op)], actor=SOC.id)
        await writer.append(op, [contact], actor=SOC.id)
        await writer.append(inc, [incident_opened(inc, op)], actor=SOC.id)
        await writer.append(con, [connection_registered(con, op)], actor=SOC.id)
        await writer.append(con, [connection_blocked(con, op, inc)], actor=SOC.id)
        await writer.append(note, [queued], actor=SOC.id)
    return {"operator": op, "incident": inc, "connection": con, "notification": note}


async def all_entries(client: httpx.AsyncClient, settings: Settings) -> list[dict[str, Any]]:
    """Every entry an auditor sees (up to 500)."""
    answer = await client.get("/audit/entries", params={"limit": 500}, headers=bearer(settings, "auditor"))
    return answer.json()["items"]


async def at_least(entries: Any, n: int) -> list[dict[str, Any]] | None:
    """The awaited entries when there are ``n`` or more (for ``eventually``)."""
    found = await entries
    return found if len(found) >= n else None


def records_of(
    topic: str, events: list[tuple[str, Any]], *, partition: int = 0, start: int = 0, operator_id: str | None = None
) -> list[Record]:
    """Raw records of one partition from offset ``start``, as the consumer hands them to the log: (subject, event) pairs."""
    return [
        Record(topic, partition, offset, encode(envelope(event, subject, operator_id=operator_id)).value)
        for offset, (subject, event) in enumerate(events, start=start)
    ]
