"""Commands of the notification service that are not HTTP bodies: queueing one route of the table."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from shared.envelope import Envelope, decode, encode
from shared.events.notification import NoticeMember
from services.notification.domain.routing import Route, Target, direction_of


@dataclass(frozen=True, slots=True)
class QueueNotification:
    """Tell ``target`` (for ``operator_id``) of a domain event, once per ``key`` (the route's idempotency key).

    It carries what the router knew when it routed the event — the incident and connection it names —
    so the instance that queues it renders the same text whatever its own read models hold yet. A
    coalesced route names its ``group`` and the ``member`` it adds; it is keyed by its group on the inbox,
    so one instance decides a group's members in order.
    """

    key: str
    target: Target
    operator_id: str | None
    title_ja: str
    title_en: str
    event: Envelope
    incident: dict[str, Any] = field(default_factory=dict)
    connection: dict[str, Any] = field(default_factory=dict)
    group: str | None = None
    member: NoticeMember | None = None

    @classmethod
    def of(cls, route: Route, event: Envelope, *, incident: dict[str, Any], connection: dict[str, Any]) -> "QueueNotification":
        """The command for one route of the table."""
        return cls(
            key=route.idempotency_key, target=route.target, operator_id=route.operator_id, title_ja=route.rule.title_ja,
            title_en=route.rule.title_en, event=event, incident=incident, connection=connection, group=route.group,
            member=route.member,
        )  # fmt: skip

    @property
    def partition_key(self) -> str:
        """What the command is keyed by on the inbox: its group when coalesced, else its own key."""
        return self.group or self.key

    @property
    def direction(self) -> str:
        """utility_to_operator or operator_to_utility."""
        return direction_of(self.target)


def command_record(command: QueueNotification) -> dict[str, Any]:
    """A queue command as the inbox carries it (JSON; the domain event as its CloudEvents text)."""
    return {
        "command": "queue", "key": command.key, "target": command.target, "operator_id": command.operator_id,
        "title_ja": command.title_ja, "title_en": command.title_en, "event": encode(command.event).value.decode(),
        "incident": command.incident, "connection": command.connection, "group": command.group,
        "member": command.member.model_dump(mode="json") if command.member else None,
    }  # fmt: skip


def command_of(value: bytes) -> QueueNotification:
    """The queue command an inbox record carries (ValueError, KeyError or TypeError when it is not one)."""
    body = json.loads(value)
    if body.get("command") != "queue":
        raise ValueError(f"unknown command {body.get('command')!r}")
    return QueueNotification(
        key=body["key"], target=body["target"], operator_id=body["operator_id"], title_ja=body["title_ja"],
        title_en=body["title_en"], event=decode(body["event"].encode()), incident=dict(body["incident"]),
        connection=dict(body["connection"]), group=body.get("group"),
        member=NoticeMember.model_validate(body["member"]) if body.get("member") else None,
    )  # fmt: skip
