"""Read models of contacts and notifications, folded from the service's own topics into SQLite documents."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from shared.documents import Documents, DocumentSink
from shared.envelope import Envelope
from shared.events.contact import ContactEvent
from shared.events.notification import (
    NoticeMember,
    NotificationAcknowledged,
    NotificationDelivered,
    NotificationEscalated,
    NotificationExtended,
    NotificationFailed,
    NotificationFollowedUp,
    NotificationQueued,
)
from services.notification.domain.contacts import CONTACT_FIELDS

NOTIFICATIONS = "notifications"  # key: notification id; tags: operator, status; sorted by queued_at
CONTACTS = "contacts"  # key: operator id; the operator's contacts by kind
MEMBERS = "notification_members"  # key: "<notification id>/<n>"; tag notification; sorted in the order they joined


def _queued(envelope: Envelope, event: NotificationQueued) -> dict[str, Any]:
    return {
        "id": event.notification_id,
        "status": "queued",
        "route": event.route,
        "channel": event.channel,
        "channels": list(event.channels or [event.channel]),
        "delivered_channels": [],
        "operator_id": event.operator_id,
        "recipient": event.recipient.model_dump(mode="json"),
        "title": event.title,
        "subject": event.message_subject,
        "domain_event": {"type": event.domain_event_type, "id": event.domain_event_id, "subject": event.subject_id},
        "escalation_of": event.escalation_of,
        "attempts": 0,
        "last_error": None,
        "next_attempt_at": None,
        "final": False,
        "queued_at": envelope.time.isoformat(),
        "delivered_at": None,
        "acknowledged_by": None,
        "acknowledged_at": None,
        "escalated_to": None,
        "escalation_notification_id": None,
        "version": envelope.sequence,
        **_coalescing(event),
    }


def _coalescing(event: NotificationQueued) -> dict[str, Any]:
    """What a coalesced notice shows of its group: how many members, when it goes out, what it follows."""
    found = event.coalescing
    if found is None:
        return {"member_count": 0, "group": None}
    return {
        "member_count": len(found.members), "group": found.group, "hold_until": found.hold_until.isoformat(),
        "digest_of": found.digest_of, "followed_by": None,
    }  # fmt: skip


def _members(docs: Documents, notification_id: str, members: list[NoticeMember], *, before: int) -> None:
    """Each member a row of its own, numbered in the order it joined (the numbers follow from the events alone)."""
    for n, joined in enumerate(members, start=before):
        row = {"notification_id": notification_id, "n": n + 1, **joined.model_dump(mode="json")}
        docs.put(MEMBERS, f"{notification_id}/{n:09d}", row, sort=f"{n:09d}", tags={"notification": notification_id})


def _settle_status(view: dict[str, Any]) -> None:
    if view["acknowledged_by"]:
        view["status"] = "acknowledged"
    elif view["escalated_to"]:
        view["status"] = "escalated"
    elif set(view["channels"]) <= set(view["delivered_channels"]):
        view["status"] = "delivered"
    elif view["attempts"]:
        view["status"] = "failed"


def _changed(view: dict[str, Any], envelope: Envelope) -> None:
    """What a later event of the notification does to its view."""
    event = envelope.event
    view["version"] = envelope.sequence
    if isinstance(event, NotificationDelivered):
        view["attempts"] = max(view["attempts"], event.attempt)
        view["delivered_channels"].append(event.channel or view["channel"])
        view["delivered_at"] = event.delivered_at.isoformat()
    elif isinstance(event, NotificationFailed):
        view["attempts"] = max(view["attempts"], event.attempt)
        view["last_error"], view["final"] = event.error, event.final
        view["next_attempt_at"] = event.next_attempt_at.isoformat() if event.next_attempt_at else None
    elif isinstance(event, NotificationAcknowledged):
        view["acknowledged_by"], view["acknowledged_at"] = event.acknowledged_by, envelope.time.isoformat()
    elif isinstance(event, NotificationEscalated):
        view["escalated_to"] = event.escalated_to.model_dump(mode="json")
        view["escalation_notification_id"] = event.escalation_notification_id
    elif isinstance(event, NotificationExtended):
        view["member_count"], view["subject"] = event.member_count, event.message_subject
    elif isinstance(event, NotificationFollowedUp):
        view["followed_by"] = event.digest_id
    _settle_status(view)


def _sort_key(view: dict[str, Any]) -> str:
    """Queue time as text that sorts as time does (every view in UTC, with microseconds)."""
    return datetime.fromisoformat(view["queued_at"]).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")


def apply(docs: Documents, envelope: Envelope) -> None:
    """Fold one event of the contact or notification topic into the documents."""
    event = envelope.event
    if isinstance(event, ContactEvent):
        contact = {name: getattr(event, name) for name in CONTACT_FIELDS}
        contact.update(kind=event.kind, updated_at=envelope.time.isoformat(), version=envelope.sequence)
        docs.put(CONTACTS, event.operator_id, {**(docs.get(CONTACTS, event.operator_id) or {}), event.kind: contact})
        return
    if isinstance(event, NotificationQueued):
        view = _queued(envelope, event)
        _members(docs, view["id"], event.coalescing.members if event.coalescing else [], before=0)
    else:
        found = docs.get(NOTIFICATIONS, getattr(event, "notification_id", ""))
        if found is None:
            return
        view = found
        if isinstance(event, NotificationExtended):
            _members(docs, view["id"], event.members, before=event.member_count - len(event.members))
        _changed(view, envelope)
    tags = {"operator": view["operator_id"], "status": view["status"]}
    docs.put(NOTIFICATIONS, view["id"], view, sort=_sort_key(view), tags=tags)


class NotificationViews(DocumentSink):
    """Contacts per operator and notifications by id, shaped as the API answers them."""

    def fold(self, docs: Documents, envelope: Envelope) -> None:
        """Apply the event to the views."""
        apply(docs, envelope)

    def contacts_of(self, operator_id: str) -> dict[str, dict[str, Any]]:
        """An operator's contacts by kind (empty when none is registered)."""
        return self.docs.get(CONTACTS, operator_id) or {}

    def notification(self, notification_id: str) -> dict[str, Any] | None:
        """One notification's view, or None."""
        return self.docs.get(NOTIFICATIONS, notification_id)

    def members(self, notification_id: str, *, offset: int, limit: int) -> tuple[list[dict[str, Any]], int]:
        """A page of a coalesced notice's members in the order they joined, and how many in all."""
        return self.docs.query(MEMBERS, where={"notification": notification_id}, offset=offset, limit=limit, newest_first=False)

    def by_status(self) -> list[tuple[str, int]]:
        """How many notifications are in each status (one indexed counting query, for the metrics)."""
        return self.db.execute(
            "SELECT value, COUNT(*) FROM tags WHERE coll = ? AND name = 'status' GROUP BY value", (NOTIFICATIONS,)
        ).fetchall()

    def page(
        self, *, operator_id: str | None, status: str | None, offset: int, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        """Newest first, a page of the notifications of an operator (every one when None) in a status, and how many."""
        where = {"operator": operator_id, "status": status}
        return self.docs.query(NOTIFICATIONS, where=where, offset=offset, limit=limit, newest_first=True)
