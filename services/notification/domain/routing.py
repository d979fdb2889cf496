"""THE routing table: which domain event tells whom (part 1 of the agreement). Pure, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Literal

from shared.events import DomainEvent
from shared.events.connection import (
    BlockRecommended,
    ConnectionBlocked,
    ConnectionReconnected,
    EnforcementEscalated,
    ReconnectionApproved,
)
from shared.events.contact import ContactChanged, ContactEvent, ContactRegistered
from shared.events.incident import IncidentCleared, IncidentOpened, ReportFiled, ReportOverdue
from shared.events.operator import ComplianceOverdue, StatusReported, StatusRequested

Target = Literal["operator", "utility_desk"]
TargetOf = Callable[[Any], Target]


def other_party(party: str) -> Target:
    """Who must be told when ``party`` (utility | operator) did something."""
    return "utility_desk" if party == "operator" else "operator"


def _changer(event: ContactEvent) -> Target:
    role = event.changed_by.role if event.changed_by else "operator"
    return other_party("operator" if role == "operator" else "utility")


def _vulnerability(event: ConnectionBlocked) -> bool:
    return event.reason == "serious_vulnerability"


@dataclass(frozen=True, slots=True)
class Rule:
    """One line of the table: an event type, whom it tells, when, and the bilingual title."""

    event: type[DomainEvent]
    to: Target | TargetOf
    title_ja: str
    title_en: str
    when: Callable[[Any], bool] = lambda _: True
    once_per: Callable[[Any], str] | None = None  # a basis other than the event id (one notice per thing)

    def target(self, event: DomainEvent) -> Target:
        """The party this rule tells about ``event``."""
        return self.to if isinstance(self.to, str) else self.to(event)  # type: ignore[return-value]


RULES: tuple[Rule, ...] = (
    Rule(IncidentOpened, lambda e: other_party(e.opened_by), "インシデント発生", "Incident opened",
         when=lambda e: e.origin != "vulnerability"),
    Rule(ReportFiled, lambda e: "operator" if e.direction == "utility_to_operator" else "utility_desk",
         "インシデント報告", "Incident report filed"),
    Rule(ReportOverdue, "utility_desk", "報告期限超過", "Report overdue"),
    Rule(ReportOverdue, "operator", "報告期限超過", "Report overdue", when=lambda e: bool(e.operator_id)),
    Rule(IncidentCleared, lambda e: other_party(e.cleared_by), "インシデント解消", "Incident cleared"),
    Rule(ConnectionBlocked, "operator", "接続遮断", "Connection blocked", when=lambda e: not _vulnerability(e)),
    Rule(ConnectionBlocked, "operator", "重大な脆弱性の公表と接続遮断", "Serious vulnerability declared; connections blocked",
         when=_vulnerability, once_per=lambda e: f"vulnerability:{e.incident_id}"),
    Rule(BlockRecommended, "utility_desk", "遮断の推奨", "Block recommended"),
    Rule(EnforcementEscalated, "utility_desk", "遮断・再接続の実施遅延", "Enforcement not acknowledged in time"),
    Rule(ReconnectionApproved, lambda e: other_party(e.party), "再接続の承認依頼", "Reconnection approved — your approval is requested"),
    Rule(ConnectionReconnected, "operator", "再接続完了", "Connection reconnected"),
    Rule(ComplianceOverdue, "operator", "維持・運用の期限超過", "Compliance overdue"),
    Rule(ComplianceOverdue, "utility_desk", "維持・運用の期限超過", "Compliance overdue"),
    Rule(StatusRequested, "operator", "運用状況の提示依頼", "Status requested"),
    Rule(StatusReported, "utility_desk", "運用状況の報告", "Status reported"),
    Rule(ContactRegistered, _changer, "連絡先の登録", "Contact registered"),
    Rule(ContactChanged, _changer, "連絡先の変更", "Contact changed"),
)


@dataclass(frozen=True, slots=True)
class Route:
    """A decision: tell ``target`` (for ``operator_id``) about an event, under a stable idempotency key."""

    rule: Rule
    target: Target
    operator_id: str | None
    idempotency_key: str

    @property
    def direction(self) -> str:
        """utility_to_operator or operator_to_utility."""
        return direction_of(self.target)


def direction_of(target: str) -> str:
    """The way a notice to ``target`` goes: utility_to_operator, or operator_to_utility for the desk."""
    return "utility_to_operator" if target == "operator" else "operator_to_utility"


def routes_for(event: DomainEvent, *, event_id: str, operators: list[str]) -> list[Route]:
    """Every notification ``event`` calls for; ``operators`` are those it concerns."""
    routes: list[Route] = []
    for rule in RULES:
        if type(event) is not rule.event or not rule.when(event):
            continue
        target = rule.target(event)
        basis = rule.once_per(event) if rule.once_per else event_id
        if target == "utility_desk":
            first = operators[0] if operators else None
            routes.append(Route(rule, target, first, notify_key(basis, target, first)))
        else:
            routes.extend(Route(rule, target, op, notify_key(basis, target, op)) for op in operators)
    return routes


def notify_key(basis: str, target: str, operator_id: str | None) -> str:
    """The idempotency key of one notification: a replayed or redelivered event queues nothing new."""
    return f"notify:{basis}:{target}:{operator_id or '-'}"
