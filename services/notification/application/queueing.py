"""What one inbox batch of queue commands decides: a notification per plain route, and per coalescing group
one notice that takes every member of the batch — the group's open notice, or a new one (a digest when an
earlier notice of the group went out already).

Synchronous on purpose: the inbox stages what this decides before any ``await``, so no other decision
(nor the dispatcher, which sends only notices whose hold has passed and marks what it is sending) can
slip in between reading a group's latest notice and staging its change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from shared.eventstore import Context
from shared.events.notification import Recipient
from services.notification.application import compose
from services.notification.application.service import NotificationService
from services.notification.domain.commands import QueueNotification
from services.notification.domain.model import Notification
from services.notification.domain.recipients import primary

SYSTEM_ACTOR = "system:notification"


@dataclass(frozen=True, slots=True)
class Decision:
    """A notification to stage, under the key of its first command and the others' as markers (each seen once)."""

    notification: Notification
    key: str | None
    context: Context
    markers: list[str] = field(default_factory=list)


def decide(service: NotificationService, commands: Sequence[QueueNotification]) -> list[Decision]:
    """The decisions of commands whose keys were never seen, in the order they came (groups at their first)."""
    decisions: list[Decision] = []
    groups: dict[str, list[QueueNotification]] = {}
    for command in commands:
        if command.group is None:
            decisions.append(Decision(_plain(service, command), command.key, context_of(command)))
        elif command.group not in groups:
            groups[command.group] = [command]
        else:
            groups[command.group].append(command)
    for group, members in groups.items():
        decisions += _coalesce(service, group, members)
    return decisions


def _plain(service: NotificationService, command: QueueNotification) -> Notification:
    """The notification one route calls for, to the recipient the contacts read model gives now."""
    notification_id = service.notifications.new_id(near=command.key)
    return Notification.queue(compose.notification(service, command, _recipient(service, command), notification_id=notification_id))


def _coalesce(service: NotificationService, group: str, commands: list[QueueNotification]) -> list[Decision]:
    """The group's open notice takes the members; else a new notice (a digest after the group's latest) does."""
    now, keys, context = service.clock(), [c.key for c in commands], context_of(commands[0])
    members = [c.member for c in commands if c.member is not None]
    found = service.store.find("group", group)
    latest = service.notifications.load(found[-1]) if found else None
    if latest is not None and latest.open_for_members(now) and latest.id not in service.sending:
        latest.add_members(members, now=now, render=compose.renderer_of(service, latest))
        return [Decision(latest, keys[0], context, keys[1:])]
    notice_id = service.notifications.new_id(near=group)
    decisions = []
    if latest is None or latest.group is None:
        hold_until, digest_of = service.pacing.first(now), None
    else:
        hold_until, digest_of = service.pacing.next(now, latest.group.hold_until), latest.id
        latest.follow_up(notice_id)
        decisions.append(Decision(latest, None, context))
    notice = compose.coalesced(
        service, commands, _recipient(service, commands[0]), notification_id=notice_id, now=now,
        hold_until=hold_until, digest_of=digest_of,
    )  # fmt: skip
    return [*decisions, Decision(notice, keys[0], context, keys[1:])]


def _recipient(service: NotificationService, command: QueueNotification) -> Recipient:
    contacts = service.views.contacts_of(command.operator_id) if command.operator_id else None
    return primary(command.target, operator_id=command.operator_id, contacts=contacts, desk=service.desk)


def context_of(command: QueueNotification) -> Context:
    """Who and what caused a queued notification: the domain event it tells of."""
    return Context(
        actor=SYSTEM_ACTOR, operator_id=command.operator_id, correlation_id=command.event.correlation_id,
        causation_id=command.event.id,
    )  # fmt: skip
