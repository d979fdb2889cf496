"""What the notification handlers work with, built once by the bootstrap."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Mapping

from shared.clock import Clock, utcnow
from shared.events.notification import Recipient
from shared.eventstore import EventStore
from shared.repository import Repository
from shared.webhooks import recipient_secret
from services.notification.application.ports import Destinations, Sender, Texts
from services.notification.domain.coalescing import Pacing
from services.notification.domain.contacts import OperatorContacts
from services.notification.domain.model import Notification, RetryPolicy
from services.notification.domain.recipients import Desk, webhook_identity
from services.notification.projections.knowledge import Knowledge
from services.notification.projections.views import NotificationViews


@dataclass
class NotificationService:
    """The store and its repositories, the channels, the texts, the desk, the read models, the clock, how
    coalesced notices are paced, and what webhooks need: the master key their secrets derive from, the
    check of where they may point."""

    store: EventStore
    senders: Mapping[str, Sender]
    texts: Texts
    desk: Desk
    policy: RetryPolicy
    ack_timeout: timedelta
    base_url: str
    views: NotificationViews
    knowledge: Knowledge
    destinations: Destinations
    webhook_master: bytes = field(repr=False)
    clock: Clock = utcnow
    pacing: Pacing = Pacing(hold=timedelta(seconds=5), digest=timedelta(seconds=60))
    sending: set[str] = field(default_factory=set)
    """Notifications this instance is sending right now: no member joins one of them (its text is on its way)."""
    contacts: Repository[OperatorContacts] = field(init=False)
    notifications: Repository[Notification] = field(init=False)

    def __post_init__(self) -> None:
        self.contacts = Repository(self.store, OperatorContacts, name="operator contacts")
        self.notifications = Repository(self.store, Notification, name="notification")

    def ack_url(self, notification_id: str) -> str:
        """Where the recipient acknowledges a notification."""
        return f"{self.base_url.rstrip('/')}/notifications/{notification_id}/ack"

    def members_url(self, notification_id: str) -> str:
        """Where the recipient reads every member of a coalesced notice."""
        return f"{self.base_url.rstrip('/')}/notifications/{notification_id}/members"

    def webhook_secret(self, recipient: Recipient) -> bytes:
        """The recipient's own signing secret (HKDF of the master key, the recipient and its URL)."""
        return recipient_secret(self.webhook_master, webhook_identity(recipient))
