"""The Operator aggregate: onboarding and part 5 of the agreement (yearly duties, status on request)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from services.connection.domain.compliance import (
    DUTIES,
    INFORMATION,
    RISK_ASSESSMENT,
    TRAINING_KINDS,
    DueItem,
    duty_due,
    request_item,
    split,
    training_item,
)
from shared.domain import Aggregate, Conflict, Invalid, NotFound
from shared.events import DomainEvent
from shared.events.operator import (
    ComplianceOverdue,
    LeakageControlsAttested,
    OperatorOnboarded,
    RiskAssessmentRecorded,
    StatusReported,
    StatusRequested,
    TrainingRecorded,
)
from shared.events.values import Actor


@dataclass
class StatusRequest:
    """The utility's request to see how the operator is doing, and whether it was answered."""

    request_id: str
    subject: str
    reply_by: date
    answered: bool = False


class Operator(Aggregate):
    """A user operator that signed the agreement with the utility."""

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.name = ""
        self.agreement_date: date | None = None
        self.assessments: list[RiskAssessmentRecorded] = []
        self.trainings: list[TrainingRecorded] = []
        self.attestations: list[LeakageControlsAttested] = []
        self.requests: dict[str, StatusRequest] = {}
        self.flagged: set[tuple[str, date]] = set()

    @property
    def onboarded(self) -> bool:
        """Whether the utility onboarded it."""
        return self.agreement_date is not None

    @property
    def exists(self) -> bool:
        """An operator exists once onboarded (part 5's records are refused before)."""
        return self.onboarded

    def onboard(self, *, name: str, agreement_date: date) -> None:
        """Onboard with the agreement date; 409 when it already is."""
        if self.onboarded:
            raise Conflict(f"operator {self.id} is already onboarded")
        self._record(OperatorOnboarded(operator_id=self.id, name=name, agreement_date=agreement_date))

    # ------------------------------------------------------------------ records (part 5)

    def record_assessment(self, *, assessment_id: str, on: date, today: date, **fields: str) -> None:
        """Record a risk assessment (scope, method, findings_summary, remediation_status)."""
        self._dated(on, today, "risk assessment")
        self._record(RiskAssessmentRecorded(operator_id=self.id, assessment_id=assessment_id, date=on, **fields))

    def record_training(self, *, training_id: str, on: date, kind: str, participants: int, today: date) -> None:
        """Record security education or an incident drill."""
        self._dated(on, today, "training")
        if participants < 1:
            raise Invalid("a training needs at least one participant")
        self._record(
            TrainingRecorded(operator_id=self.id, training_id=training_id, date=on, kind=kind, participants=participants)  # type: ignore[arg-type]
        )

    def attest_leakage_controls(
        self, *, on: date, controls: list[str], attested_by: str, coverage: dict[str, list[str]], today: date
    ) -> None:
        """Attest how the important information is protected; ``coverage`` names controls per information."""
        self._dated(on, today, "attestation")
        unknown = sorted(set(coverage) - set(INFORMATION))
        if unknown:
            raise Invalid(f"coverage names unknown information {unknown}; known: {list(INFORMATION)}")
        strays = sorted({c for named in coverage.values() for c in named} - set(controls))
        if strays:
            raise Invalid(f"coverage names controls that are not in controls: {strays}")
        self._record(
            LeakageControlsAttested(
                operator_id=self.id, date=on, controls=controls, attested_by=attested_by, coverage=coverage
            )
        )

    def _dated(self, on: date, today: date, what: str) -> None:
        if not self.onboarded:
            raise NotFound(f"operator {self.id} not found")
        if on > today:
            raise Invalid(f"a {what} dated {on.isoformat()} is in the future (today is {today.isoformat()})")

    # ------------------------------------------------------------------ status on request

    def request_status(
        self, *, request_id: str, subject: str, reply_by: date, decided_by: Actor, today: date
    ) -> None:
        """The utility asks the operator to show its status by ``reply_by``."""
        if not self.onboarded:
            raise NotFound(f"operator {self.id} not found")
        if reply_by < today:
            raise Invalid(f"reply_by {reply_by.isoformat()} is already past (today is {today.isoformat()})")
        self._record(
            StatusRequested(
                operator_id=self.id, request_id=request_id, subject=subject, reply_by=reply_by, decided_by=decided_by
            )
        )

    def report_status(self, *, request_id: str, summary: str, records: dict[str, Any]) -> None:
        """Answer a request with ``records``, the standing the application took when it was filed (404 unknown, 409 answered)."""
        request = self.requests.get(request_id)
        if request is None:
            raise NotFound(f"status request {request_id} not found")
        if request.answered:
            raise Conflict(f"status request {request_id} is already answered")
        self._record(StatusReported(operator_id=self.id, request_id=request_id, summary=summary, records=records))

    # ------------------------------------------------------------------ due dates

    def due_items(self) -> list[DueItem]:
        """Every yearly duty and every open status request, with its due date."""
        assert self.agreement_date is not None
        lasts: dict[str, RiskAssessmentRecorded | TrainingRecorded | None] = {RISK_ASSESSMENT: self.last_assessment()}
        lasts.update({training_item(kind): self.last_training(kind) for kind in TRAINING_KINDS})
        items = []
        for item in DUTIES:
            last = lasts[item]
            items.append(duty_due(item, last_done=last.date if last else None, agreement_date=self.agreement_date))
        items += [DueItem(request_item(r.request_id), r.reply_by) for r in self.open_requests()]
        return items

    def open_requests(self) -> list[StatusRequest]:
        """Status requests not answered yet, by reply date."""
        return sorted((r for r in self.requests.values() if not r.answered), key=lambda r: (r.reply_by, r.request_id))

    def flag_overdue(self, today: date) -> list[ComplianceOverdue]:
        """Record ``ComplianceOverdue`` for each overdue item not flagged before for the same due date."""
        if not self.onboarded:
            return []
        overdue, _ = split(self.due_items(), today, within_days=0)
        for item in overdue:
            if (item.item, item.due_date) not in self.flagged:
                self._record(
                    ComplianceOverdue(
                        operator_id=self.id, item=item.item, due_date=item.due_date, last_done=item.last_done,
                        detected_on=today,
                    )
                )
        return [e for e in self.pending if isinstance(e, ComplianceOverdue)]

    # ------------------------------------------------------------------ what the records say

    def last_assessment(self) -> RiskAssessmentRecorded | None:
        """The latest assessment by its date (the later recorded one on a tie)."""
        return max(reversed(self.assessments), key=lambda a: a.date, default=None)

    def last_training(self, kind: str) -> TrainingRecorded | None:
        """The latest training of a kind by its date."""
        return max(reversed([t for t in self.trainings if t.kind == kind]), key=lambda t: t.date, default=None)

    def attestation_in_force(self) -> LeakageControlsAttested | None:
        """The attestation with the latest date (the later recorded one on a tie)."""
        return max(reversed(self.attestations), key=lambda a: a.date, default=None)

    def _apply(self, event: DomainEvent) -> None:
        if isinstance(event, OperatorOnboarded):
            self.name, self.agreement_date = event.name, event.agreement_date
        elif isinstance(event, RiskAssessmentRecorded):
            self.assessments.append(event)
        elif isinstance(event, TrainingRecorded):
            self.trainings.append(event)
        elif isinstance(event, LeakageControlsAttested):
            self.attestations.append(event)
        elif isinstance(event, StatusRequested):
            self.requests[event.request_id] = StatusRequest(event.request_id, event.subject, event.reply_by)
        elif isinstance(event, StatusReported):
            self.requests[event.request_id].answered = True
        elif isinstance(event, ComplianceOverdue):
            self.flagged.add((event.item, event.due_date))
