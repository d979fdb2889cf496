"""Events of an operator's contacts (topic ``smguard.contact.events``, key = operator id)."""

from __future__ import annotations

from typing import ClassVar, Literal

from shared import topics
from shared.events.base import DomainEvent
from shared.events.values import Actor

ContactKind = Literal["applicant", "security_incident"]


class ContactEvent(DomainEvent):
    """Base of contact events: the whole contact as it now is."""

    operator_id: str
    kind: ContactKind
    name: str
    organisation: str
    email: str
    phone: str
    webhook_url: str | None = None
    changed_by: Actor | None = None


class ContactRegistered(ContactEvent):
    """An operator's contact of a kind was registered for the first time."""

    topic: ClassVar[str] = topics.CONTACT_EVENTS


class ContactChanged(ContactEvent):
    """An operator's contact changed; the other party must be told at once (直ちに)."""

    topic: ClassVar[str] = topics.CONTACT_EVENTS
    changed_fields: list[str] = []
