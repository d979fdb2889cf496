"""Commands of the notification service that are not HTTP bodies: queueing one route of the table."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.envelope import Envelope
from services.notification.domain.routing import Route, Target, direction_of


@dataclass(frozen=True, slots=True)
class QueueNotification:
    """Tell ``target`` (for ``operator_id``) of a domain event, once per ``key`` (the route's idempotency key).

    It carries what the router knew when it routed the event — the incident and connection it names —
    so the instance that queues it renders the same text whatever its own read models hold yet.
    """

    key: str
    target: Target
    operator_id: str | None
    title_ja: str
    title_en: str
    event: Envelope
    incident: dict[str, Any] = field(default_factory=dict)
    connection: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, route: Route, event: Envelope, *, incident: dict[str, Any], connection: dict[str, Any]) -> "QueueNotification":
        """The command for one route of the table."""
        return cls(
            key=route.idempotency_key, target=route.target, operator_id=route.operator_id, title_ja=route.rule.title_ja,
            title_en=route.rule.title_en, event=event, incident=incident, connection=connection,
        )  # fmt: skip

    @property
    def direction(self) -> str:
        """utility_to_operator or operator_to_utility."""
        return direction_of(self.target)
