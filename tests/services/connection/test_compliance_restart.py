"""The daily overdue check on the real broker: one ComplianceOverdue per item, even across a restart,
and one notification each from the real notification service."""

from __future__ import annotations

from datetime import datetime, timezone

from services.connection.bootstrap import build_app
from services.notification.adapters.memory import RecordingSender
from services.notification.bootstrap import build_app as build_notification_app
from shared import topics
from shared.config import Settings
from shared.envelope import Envelope, decode
from shared.events.notification import NotificationQueued
from shared.events.operator import ComplianceOverdue
from shared.kafka.reader import assign_all, committed_consumer, read_to_end
from tests.factories import eventually, serving, uid
from tests.services.connection.helpers import onboard, own_settings

NOW = datetime(2025, 6, 15, 3, 0, tzinfo=timezone.utc)
LATER = datetime(2026, 4, 2, 3, 0, tzinfo=timezone.utc)  # noon JST, the day after the first due date
DUTIES = ["risk_assessment", "training:education", "training:incident_drill"]


async def operator_events(settings: Settings) -> list[Envelope]:
    """Every committed record of the operator topic, read afresh from the broker."""
    consumer = committed_consumer(settings.kafka_bootstrap_servers)
    await consumer.start()
    try:
        partitions = await assign_all(consumer, [settings.topic(topics.OPERATOR_EVENTS)])
        await consumer.seek_to_beginning(*partitions)
        return [decode(r.value, key=r.key) async for batch in read_to_end(consumer, partitions) for r in batch]
    finally:
        await consumer.stop()


def overdue_of(envelopes: list[Envelope], operator_id: str) -> list[tuple[str, str]]:
    return sorted(
        (e.event.item, e.event.due_date.isoformat())
        for e in envelopes
        if isinstance(e.event, ComplianceOverdue) and e.event.operator_id == operator_id
    )


def notices(app, operator_id: str) -> list[str]:  # type: ignore[no-untyped-def]
    """Domain event ids of the first (not escalation) notices to the operator about its ComplianceOverdue events."""
    return [
        e.event.domain_event_id
        for e in app.state.service.store.all()
        if isinstance(e.event, NotificationQueued) and e.event.domain_event_type == "ComplianceOverdue"
        and e.event.operator_id == operator_id and e.event.escalation_of is None
        and e.event.route == "utility_to_operator"
    ]


async def test_an_overdue_item_is_flagged_and_notified_once_even_across_a_restart(settings):
    own = own_settings(None, compliance_check_seconds=0.05)
    senders = {"email": RecordingSender("email"), "webhook": RecordingSender("webhook")}
    notification = build_notification_app(settings, senders=senders)  # type: ignore[arg-type]
    async with serving(notification):
        first = build_app(settings, own, clock=lambda: NOW)
        async with serving(first) as client:
            operator = uid("op")
            await onboard(client, settings, operator)  # agreement 2025-04-01: nothing due before 2026-04-01
            first.state.service.clock = lambda: LATER
            await eventually(lambda: len(overdue_of(list(first.state.service.store.all()), operator)) == 3,
                             what="three overdue duties")
            checks = first.state.compliance_check.ticks
            await eventually(lambda: first.state.compliance_check.ticks >= checks + 5, what="more checks")
        second = build_app(settings, own, clock=lambda: LATER)
        async with serving(second):
            await eventually(lambda: second.state.compliance_check.ticks >= 5, what="checks after the restart")
        flagged = overdue_of(await operator_events(settings), operator)
        assert flagged == [(item, "2026-04-01") for item in DUTIES]
        await eventually(lambda: len(notices(notification, operator)) >= 3, what="three notifications")
        for subscriber in notification.state.runtime.subscribers:
            await subscriber.wait_for_current_end()
        ids = notices(notification, operator)
        assert len(ids) == 3 and len(set(ids)) == 3
