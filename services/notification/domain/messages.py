"""What a notification says: the facts of the domain event, its incident and connection, the reports."""

from __future__ import annotations

from typing import Any

from shared.envelope import Envelope
from shared.events.contact import ContactEvent
from shared.events.incident import ReportFiled
from shared.events.notification import Recipient

# Event fields worth telling, with their Japanese and English labels. Secrets never appear here.
FACT_LABELS: dict[str, tuple[str, str]] = {
    "reason": ("遮断理由", "Block reason"),
    "note": ("備考", "Note"),
    "decided_by": ("判断者", "Decided by"),
    "party": ("承認した当事者", "Approving party"),
    "part": ("報告区分", "Report part"),
    "revision": ("版", "Revision"),
    "filed_by": ("報告者", "Filed by"),
    "direction": ("通報の方向", "Direction"),
    "due_at": ("期限", "Due at"),
    "due_date": ("期限", "Due date"),
    "item": ("項目", "Item"),
    "summary": ("概要", "Summary"),
    "cleared_by": ("解消を判断した当事者", "Cleared by"),
    "subject": ("件名", "Subject"),
    "reply_by": ("回答期限", "Reply by"),
    "request_id": ("依頼ID", "Request id"),
    "recommendation_id": ("推奨ID", "Recommendation id"),
    "action": ("処置", "Action"),
    "waited_seconds": ("待機秒数", "Waited (seconds)"),
    "changed_fields": ("変更された項目", "Changed fields"),
    "origin": ("発端", "Origin"),
    "description": ("説明", "Description"),
}
CONTACT_LABELS: dict[str, tuple[str, str]] = {
    "kind": ("連絡先の種類", "Contact kind"),
    "name": ("氏名", "Name"),
    "organisation": ("所属", "Organisation"),
    "email": ("電子メール", "E-mail"),
    "phone": ("電話番号", "Phone"),
    "webhook_url": ("Webhook URL", "Webhook URL"),
}


def facts_of(envelope: Envelope) -> list[tuple[str, str, Any]]:
    """(Japanese label, English label, value) for each telling field the event has."""
    data = envelope.event.model_dump()
    return [(ja, en, getattr(envelope.event, name)) for name, (ja, en) in FACT_LABELS.items() if data.get(name) not in (None, "", [])]


def contact_of(envelope: Envelope) -> list[tuple[str, str, Any]]:
    """The contact as it now is, for contact events."""
    event = envelope.event
    if not isinstance(event, ContactEvent):
        return []
    return [(ja, en, getattr(event, name)) for name, (ja, en) in CONTACT_LABELS.items() if getattr(event, name)]


def context(
    envelope: Envelope,
    *,
    title_ja: str,
    title_en: str,
    notification_id: str,
    recipient: Recipient,
    direction: str,
    incident: dict[str, Any],
    connection: dict[str, Any],
    ack_url: str,
) -> dict[str, Any]:
    """Everything the templates render for one notification."""
    event = envelope.event
    report = event if isinstance(event, ReportFiled) else None
    return {
        "title_ja": title_ja,
        "title_en": title_en,
        "notification_id": notification_id,
        "recipient": recipient,
        "direction": direction,
        "event": {"type": envelope.type, "id": envelope.id, "subject": envelope.subject, "time": envelope.time},
        "facts": facts_of(envelope),
        "contact": contact_of(envelope),
        "incident": incident,
        "connection": connection,
        "initial": report.initial if report else None,
        "cause": report.cause if report else None,
        "ack_url": ack_url,
    }
