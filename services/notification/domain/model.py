"""The notification aggregate: queued → delivered | failed (retried) → acknowledged | escalated."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Sequence

from shared.backoff import Backoff
from shared.domain import Aggregate, Conflict, Forbidden, Index
from shared.events import DomainEvent
from shared.events.notification import (
    Channel,
    NoticeMember,
    NotificationAcknowledged,
    NotificationDelivered,
    NotificationEscalated,
    NotificationExtended,
    NotificationFailed,
    NotificationFollowedUp,
    NotificationQueued,
    Recipient,
)
from shared.principal import Principal
from services.notification.domain.coalescing import Group, Render, chunks


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Deliveries wait the shared exponential back-off between attempts and are final after ``max_attempts``."""

    max_attempts: int
    backoff: Backoff

    def delay(self, attempt: int) -> timedelta:
        """How long to wait after failed attempt number ``attempt`` (1-based)."""
        return timedelta(seconds=self.backoff.delay(attempt))


class Notification(Aggregate):
    """One message to one recipient about one domain event — or, coalesced, about every member of its
    group that joined before it went out — over one or more channels.

    Its state is a handful of fields whatever its history: the rendered message, the channels that
    accepted it, the last attempt, the acknowledgement and the escalation; a coalesced one also its
    group (when it goes out, the first members it lists, how many in all, the digest that follows).
    """

    queued: NotificationQueued | None
    attempts: int
    delivered: set[str]
    delivered_at: datetime | None
    last_error: str | None
    next_attempt_at: datetime | None
    final_failure: bool
    acknowledged_by: str | None
    escalated_to: Recipient | None
    group: Group | None
    revised: tuple[str, str] | None

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.queued: NotificationQueued | None = None
        self.attempts = 0
        self.delivered: set[str] = set()
        self.delivered_at: datetime | None = None
        self.last_error: str | None = None
        self.next_attempt_at: datetime | None = None
        self.final_failure = False
        self.acknowledged_by: str | None = None
        self.escalated_to: Recipient | None = None
        self.group: Group | None = None
        self.revised: tuple[str, str] | None = None  # (subject, body) once members joined after queueing

    @classmethod
    def queue(
        cls, queued: NotificationQueued, *, more: Sequence[NoticeMember] = (), render: Render | None = None
    ) -> "Notification":
        """A new notification, its message rendered and ready to send; a coalesced one with ``more`` members
        than its queueing event carries (each run of them an extension, its text by ``render``)."""
        notification = cls(queued.notification_id)
        notification._record(queued)
        if more:
            assert render is not None
            notification._extend(more, render)
        return notification

    def add_members(self, members: Sequence[NoticeMember], *, now: datetime, render: Render) -> None:
        """Members join a coalesced notice that is still open (held, nothing sent): its text is rendered again."""
        if not self.open_for_members(now):
            raise Conflict(f"notification {self.id} takes no more members")
        self._extend(members, render)

    def open_for_members(self, now: datetime) -> bool:
        """A coalesced notice whose hold has not passed, with no attempt made and no digest after it."""
        return self.group is not None and self.group.open(now) and not self.attempts and not self.delivered

    def follow_up(self, digest_id: str) -> None:
        """Later members of the group go to the digest ``digest_id`` (once)."""
        if self.group is None or self.group.followed_by is not None:
            raise Conflict(f"notification {self.id} is no open notice of a group")
        self._record(NotificationFollowedUp(notification_id=self.id, digest_id=digest_id))

    def _extend(self, members: Sequence[NoticeMember], render: Render) -> None:
        assert self.group is not None
        for run in chunks(members):
            after = self.group.joined(run)
            subject, body = render(after)
            self._record(NotificationExtended(
                notification_id=self.id, members=run, member_count=after.count, message_subject=subject, message_body=body,
            ))  # fmt: skip

    @property
    def message_subject(self) -> str:
        """The subject as it now reads (as queued, or as the last members joining left it)."""
        return self.revised[0] if self.revised else self.queued.message_subject if self.queued else ""

    @property
    def message_body(self) -> str:
        """The body as it now reads."""
        return self.revised[1] if self.revised else self.queued.message_body if self.queued else ""

    @property
    def exists(self) -> bool:
        """Queued at some time."""
        return self.queued is not None

    def index(self) -> Index:
        """``unsettled``: the dispatcher's work (a delivery or an escalation may still be due), found without a scan;
        ``group``: the latest notice of its group (no digest follows it yet)."""
        found: Index = {"unsettled": ["1"]} if self.exists and not self.settled else {}
        if self.group is not None and self.group.followed_by is None:
            found["group"] = [self.group.key]
        return found

    @property
    def operator_id(self) -> str | None:
        """The operator the notification concerns (its tenant)."""
        return self.queued.operator_id if self.queued else None

    @property
    def channels(self) -> list[Channel]:
        """Every channel the message goes out on."""
        assert self.queued is not None
        return list(self.queued.channels or [self.queued.channel])

    @property
    def pending_channels(self) -> list[Channel]:
        """Channels that have not accepted the message yet."""
        return [c for c in self.channels if c not in self.delivered]

    @property
    def is_escalation(self) -> bool:
        """A message to a fallback contact about another notification."""
        return self.queued is not None and self.queued.escalation_of is not None

    @property
    def status(self) -> str:
        """queued, delivered, failed, acknowledged or escalated."""
        if self.acknowledged_by:
            return "acknowledged"
        if self.escalated_to is not None:
            return "escalated"
        if self.queued is not None and not self.pending_channels:
            return "delivered"
        return "failed" if self.attempts else "queued"

    @property
    def settled(self) -> bool:
        """Nothing more will happen to it: acknowledged, escalated, or an escalation delivered or finally failed."""
        if self.acknowledged_by or self.escalated_to:
            return True
        return self.is_escalation and (self.final_failure or not self.pending_channels)

    def due_for_delivery(self, now: datetime) -> bool:
        """Queued (and its hold passed, when coalesced) or failed-but-retrying, and its back-off has passed."""
        if self.queued is None or self.final_failure or not self.pending_channels:
            return False
        if self.group is not None and now < self.group.hold_until:
            return False
        return self.next_attempt_at is None or now >= self.next_attempt_at

    def record_attempt(
        self, errors: dict[str, str | None], *, now: datetime, policy: RetryPolicy, permanent: bool = False
    ) -> None:
        """Record what each pending channel answered (None = accepted); ``permanent`` failures are final."""
        attempt = self.attempts + 1
        failures = {c: e for c, e in errors.items() if e is not None}
        for channel in errors:
            if errors[channel] is None:
                self._record(NotificationDelivered(notification_id=self.id, attempt=attempt, delivered_at=now, channel=channel))
        if failures:
            final = permanent or attempt >= policy.max_attempts
            error = "; ".join(f"{c}: {e}" for c, e in failures.items())
            next_at = None if final else now + policy.delay(attempt)
            channel = next(iter(failures)) if len(failures) == 1 else None
            failed = NotificationFailed(
                notification_id=self.id, attempt=attempt, error=error, next_attempt_at=next_at, final=final, channel=channel
            )
            self._record(failed)

    def received_by(self, principal: Principal) -> bool:
        """Whether the caller is on the receiving side: the utility for the desk, the operator for its contacts."""
        assert self.queued is not None
        if self.queued.recipient.kind == "utility_desk":
            return principal.is_utility
        return principal.party == "operator" and principal.operator_id == self.queued.operator_id

    def acknowledge(self, principal: Principal) -> None:
        """The receiving side has seen it (another side: Forbidden); a second acknowledgement changes nothing."""
        if not self.received_by(principal):
            raise Forbidden("only the receiving side may acknowledge this notification")
        if self.acknowledged_by is None:
            self._record(NotificationAcknowledged(notification_id=self.id, acknowledged_by=principal.sub))

    def due_for_escalation(self, now: datetime, *, ack_timeout: timedelta) -> bool:
        """Not acknowledged in time after delivery, or undeliverable; escalations do not escalate.

        A coalesced notice's time runs as its first member's would have alone: the hold is taken off it.
        """
        if self.queued is None or self.is_escalation or self.acknowledged_by or self.escalated_to:
            return False
        if self.final_failure:
            return True
        held = self.group.held if self.group is not None else timedelta(0)
        return self.delivered_at is not None and not self.pending_channels and now >= self.delivered_at + ack_timeout - held

    def escalate(self, to: Recipient, *, reason: str, escalation_id: str) -> None:
        """Hand the matter on to the fallback contact (the message to it is its own notification)."""
        if self.escalated_to is not None:
            raise Conflict(f"notification {self.id} was escalated already")
        self._record(
            NotificationEscalated(
                notification_id=self.id, escalated_to=to, reason=reason, escalation_notification_id=escalation_id
            )
        )

    def _apply(self, event: DomainEvent) -> None:
        if isinstance(event, NotificationQueued):
            self.queued = event
            self._apply_queued(event)
        elif isinstance(event, NotificationExtended) and self.group is not None:
            self.group.join(event.members)
            self.revised = (event.message_subject, event.message_body)
        elif isinstance(event, NotificationFollowedUp) and self.group is not None:
            self.group.followed_by = event.digest_id
        elif isinstance(event, NotificationDelivered):
            self._apply_delivered(event)
        elif isinstance(event, NotificationFailed):
            self.attempts = max(self.attempts, event.attempt)
            self.last_error, self.next_attempt_at, self.final_failure = event.error, event.next_attempt_at, event.final
        elif isinstance(event, NotificationAcknowledged):
            self.acknowledged_by = event.acknowledged_by
        elif isinstance(event, NotificationEscalated):
            self.escalated_to = event.escalated_to

    def _apply_queued(self, event: NotificationQueued) -> None:
        found = event.coalescing
        if found is not None:
            self.group = Group.of(found)

    def _apply_delivered(self, event: NotificationDelivered) -> None:
        self.attempts = max(self.attempts, event.attempt)
        self.delivered.add(event.channel or (self.queued.channel if self.queued else "email"))
        if not self.pending_channels:
            self.delivered_at = event.delivered_at
