"""The daily overdue check on the real broker: one ComplianceOverdue per item, even across a restart,
and one notification each from the real notification service."""

from __future__ import annotations

from datetime import datetime, timezone

from services.connection.bootstrap import build_app
from services.notification.adapters.memory import RecordingSender
from services.notification.bootstrap import build_app as build_notification_app
from shared.config import Settings
from shared.envelope import Envelope
from shared.events.notification import NotificationQueued
from shared.events.operator import ComplianceOverdue
from shared.topics import NOTIFICATION_EVENTS, OPERATOR_EVENTS
from tests.factories import eventually, serving, uid
from tests.services.connection.helpers import onboard, own_settings, topic_events

NOW = datetime(2025, 6, 15, 3, 0, tzinfo=timezone.utc)
LATER = datetime(2026, 4, 2, 3, 0, tzinfo=timezone.utc)  # noon JST, the day after the first due date
DUTIES = ["risk_assessment", "training:education", "training:incident_drill"]


def overdue_of(envelopes: list[Envelope], operator_id: str) -> list[tuple[str, str]]:
    return sorted(
        (e.event.item, e.event.due_date.isoformat())
        for e in envelopes
        if isinstance(e.event, ComplianceOverdue) and e.event.operator_id == operator_id
    )


async def notices(settings: Settings, operator_id: str) -> list[str]:
    """Domain event ids of the first (not escalation) notices to the operator about its ComplianceOverdue events."""
    return [
        e.event.domain_event_id
        for e in await topic_events(settings, NOTIFICATION_EVENTS)
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
            await eventually(lambda: _flagged(settings, operator, 3), what="three overdue duties")
            checks = first.state.compliance_check.ticks
            await eventually(lambda: first.state.compliance_check.ticks >= checks + 5, what="more checks")
        second = build_app(settings, own, clock=lambda: LATER)
        async with serving(second):
            await eventually(lambda: second.state.compliance_check.ticks >= 5, what="checks after the restart")
        flagged = overdue_of(await topic_events(settings, OPERATOR_EVENTS), operator)
        assert flagged == [(item, "2026-04-01") for item in DUTIES]
        await eventually(lambda: _notified(settings, operator, 3), what="three notifications")
        for subscriber in notification.state.runtime.subscribers:
            await subscriber.wait_for_current_end()
        ids = await notices(settings, operator)
        assert len(ids) == 3 and len(set(ids)) == 3


async def _flagged(settings: Settings, operator_id: str, count: int) -> bool:
    return len(overdue_of(await topic_events(settings, OPERATOR_EVENTS), operator_id)) == count


async def _notified(settings: Settings, operator_id: str, count: int) -> bool:
    return len(await notices(settings, operator_id)) >= count
