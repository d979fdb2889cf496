"""THE routing table: which domain event tells whom (part 1 of the agreement). Pure, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Literal, Mapping

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
from shared.events.notification import NoticeMember
from shared.events.operator import ComplianceOverdue, StatusReported, StatusRequested
from services.notification.domain.coalescing import Spec, group_key, member

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


def _per_connection(kind: str) -> Callable[[Any], Spec]:
    """One member per connection event, grouped by the incident it names (if any)."""
    return lambda e: Spec(kind, incident_id=getattr(e, "incident_id", None), connection_id=e.connection_id)


def _anomaly_opened(event: IncidentOpened) -> Spec | None:
    """An incident an anomaly opened is about one connection: a storm of them coalesces; a report's does not."""
    if event.origin != "anomaly":
        return None
    return Spec("incident-opened", incident_id=event.incident_id, connection_id=event.connection_id, anomaly=True)


def _overdue(event: ReportOverdue) -> Spec:
    return Spec(f"report-overdue-{event.part}", incident_id=event.incident_id, due_at=event.due_at)


@dataclass(frozen=True, slots=True)
class Rule:
    """One line of the table: an event type, whom it tells, when, and the bilingual title.

    ``coalesce`` marks a notice that a storm would repeat per meter: it gives the kind of notice and what
    the event is about, and such notices are coalesced per group (``domain/coalescing.py``).
    """

    event: type[DomainEvent]
    to: Target | TargetOf
    title_ja: str
    title_en: str
    when: Callable[[Any], bool] = lambda _: True
    coalesce: Callable[[Any], Spec | None] | None = None

    def target(self, event: DomainEvent) -> Target:
        """The party this rule tells about ``event``."""
        return self.to if isinstance(self.to, str) else self.to(event)  # type: ignore[return-value]


RULES: tuple[Rule, ...] = (
    Rule(IncidentOpened, lambda e: other_party(e.opened_by), "インシデント発生", "Incident opened",
         when=lambda e: e.origin != "vulnerability", coalesce=_anomaly_opened),
    Rule(ReportFiled, lambda e: "operator" if e.direction == "utility_to_operator" else "utility_desk",
         "インシデント報告", "Incident report filed"),
    Rule(ReportOverdue, "utility_desk", "報告期限超過", "Report overdue", coalesce=_overdue),
    Rule(ReportOverdue, "operator", "報告期限超過", "Report overdue", when=lambda e: bool(e.operator_id), coalesce=_overdue),
    Rule(IncidentCleared, lambda e: other_party(e.cleared_by), "インシデント解消", "Incident cleared",
         coalesce=lambda e: Spec("incident-cleared", incident_id=e.incident_id)),
    Rule(ConnectionBlocked, "operator", "接続遮断", "Connection blocked", when=lambda e: not _vulnerability(e),
         coalesce=_per_connection("blocked")),
    Rule(ConnectionBlocked, "operator", "重大な脆弱性の公表と接続遮断", "Serious vulnerability declared; connections blocked",
         when=_vulnerability, coalesce=_per_connection("blocked-vulnerability")),
    Rule(BlockRecommended, "utility_desk", "遮断の推奨", "Block recommended", coalesce=_per_connection("block-recommended")),
    Rule(EnforcementEscalated, "utility_desk", "遮断・再接続の実施遅延", "Enforcement not acknowledged in time",
         coalesce=lambda e: Spec(f"enforcement-escalated-{e.action}", connection_id=e.connection_id)),
    Rule(ReconnectionApproved, lambda e: other_party(e.party), "再接続の承認依頼", "Reconnection approved — your approval is requested",
         coalesce=lambda e: Spec(f"reconnection-approved-by-{e.party}", connection_id=e.connection_id)),
    Rule(ConnectionReconnected, "operator", "再接続完了", "Connection reconnected", coalesce=_per_connection("reconnected")),
    Rule(ComplianceOverdue, "operator", "維持・運用の期限超過", "Compliance overdue"),
    Rule(ComplianceOverdue, "utility_desk", "維持・運用の期限超過", "Compliance overdue"),
    Rule(StatusRequested, "operator", "運用状況の提示依頼", "Status requested"),
    Rule(StatusReported, "utility_desk", "運用状況の報告", "Status reported"),
    Rule(ContactRegistered, _changer, "連絡先の登録", "Contact registered"),
    Rule(ContactChanged, _changer, "連絡先の変更", "Contact changed"),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Route:
    """A decision: tell ``target`` (for ``operator_id``) about an event, under a stable idempotency key.

    A coalesced route names its ``group`` and the ``member`` it adds to the group's notice.
    """

    rule: Rule
    target: Target
    operator_id: str | None
    idempotency_key: str
    group: str | None = None
    member: NoticeMember | None = None

    @property
    def direction(self) -> str:
        """utility_to_operator or operator_to_utility."""
        return direction_of(self.target)


def direction_of(target: str) -> str:
    """The way a notice to ``target`` goes: utility_to_operator, or operator_to_utility for the desk."""
    return "utility_to_operator" if target == "operator" else "operator_to_utility"


def routes_for(
    event: DomainEvent, *, event_id: str, operators: list[str], incident: Mapping[str, Any] | None = None
) -> list[Route]:
    """Every notification ``event`` calls for; ``operators`` are those it concerns, ``incident`` what is known
    of the incident it names (whether an anomaly opened it decides how its notices group)."""
    routes: list[Route] = []
    for rule in RULES:
        if type(event) is not rule.event or not rule.when(event):
            continue
        target = rule.target(event)
        spec = rule.coalesce(event) if rule.coalesce else None
        for operator_id in (operators[:1] or [None]) if target == "utility_desk" else operators:
            key = notify_key(event_id, target, operator_id)
            if spec is None:
                routes.append(Route(rule, target, operator_id, key))
            else:
                group = group_key(spec, incident=incident, target=target, operator_id=operator_id)
                added = member(spec, event_id=event_id, incident=incident)
                routes.append(Route(rule, target, operator_id, key, group, added))
    return routes


def notify_key(basis: str, target: str, operator_id: str | None) -> str:
    """The idempotency key of one notification: a replayed or redelivered event queues nothing new."""
    return f"notify:{basis}:{target}:{operator_id or '-'}"
