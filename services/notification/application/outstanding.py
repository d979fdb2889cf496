"""The notifications not settled yet: what the dispatcher looks at on each tick."""

from __future__ import annotations

from shared.envelope import Envelope
from shared.eventstore import EventStore
from shared.eventstore.follow import Follower
from shared.events.notification import NotificationEvent, NotificationQueued
from services.notification.domain.model import Notification


class Outstanding:
    """Folds the store's own notification events once each; a notification leaves when it is settled."""

    def __init__(self, store: EventStore) -> None:
        self._open: dict[str, Notification] = {}
        self._follower = Follower(store, fold=self._fold, reset=self._open.clear)

    def current(self) -> list[Notification]:
        """Every notification that may still need a delivery or an escalation, staged events included."""
        self._follower.catch_up()
        return list(self._open.values())

    def _fold(self, envelope: Envelope) -> None:
        event = envelope.event
        if isinstance(event, NotificationQueued):
            self._open[envelope.subject] = Notification(envelope.subject)
        notification = self._open.get(envelope.subject)
        if notification is None or not isinstance(event, NotificationEvent):
            return
        notification.fold([event])
        if notification.settled:
            del self._open[envelope.subject]
