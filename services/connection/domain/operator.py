"""The Operator aggregate: onboarding and part 5 of the agreement (yearly duties, status on request)."""

from __future__ import annotations

from datetime import date
from typing import Any

from services.connection.domain.compliance import (
    DUTIES,
    INFORMATION,
    RISK_ASSESSMENT,
    TRAINING_KINDS,
    DueItem,
    StatusRequest,
    duty_due,
    later_record,
    overdue_key,
    request_item,
    split,
    training_item,
)
from services.connection.domain.state import keep_recent
from shared.domain import Aggregate, Conflict, Index, Invalid, NotFound
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


class Operator(Aggregate):
    """A user operator that signed the agreement with the utility.

    Its state is bounded: of the records only what the rules read (the latest-dated assessment, the
    latest training of each kind, the attestation in force), the open status requests and the latest
    answered ones, and the overdue flags of the due dates still current.
    """

    name: str
    agreement_date: date | None
    last_assessment: RiskAssessmentRecorded | None
    """The latest assessment by its date (the later recorded one on a tie)."""
    last_trainings: dict[str, TrainingRecorded]
    """The latest training of each kind by its date."""
    attestation_in_force: LeakageControlsAttested | None
    """The attestation with the latest date (the later recorded one on a tie)."""
    requests: dict[str, StatusRequest]
    flagged: set[tuple[str, date]]

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.name, self.agreement_date = "", None
        self.last_assessment, self.last_trainings, self.attestation_in_force = None, {}, None
        self.requests, self.flagged = {}, set()

    @property
    def onboarded(self) -> bool:
        """Whether the utility onboarded it."""
        return self.agreement_date is not None

    @property
    def exists(self) -> bool:
        """An operator exists once onboarded (part 5's records are refused before)."""
        return self.onboarded

    def index(self) -> Index:
        """Onboarded operators are found for the daily overdue check."""
        return {"onboarded": ["1"]} if self.onboarded else {}

    @classmethod
    def markers_of(cls, event: DomainEvent) -> list[str]:
        """Each overdue item is recognised by its operator, item and due date (what the check keys it by)."""
        if isinstance(event, ComplianceOverdue):
            return [overdue_key(event.operator_id, event.item, event.due_date)]
        return []

    def onboard(self, *, name: str, agreement_date: date) -> None:
        """Onboard with the agreement date; 409 when it already is."""
        if self.onboarded:
            raise Conflict(f"operator {self.id} is already onboarded")
        self._record(OperatorOnboarded(operator_id=self.id, name=name, agreement_date=agreement_date))

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

    def due_items(self) -> list[DueItem]:
        """Every yearly duty and every open status request, with its due date."""
        assert self.agreement_date is not None
        lasts: dict[str, RiskAssessmentRecorded | TrainingRecorded | None] = {RISK_ASSESSMENT: self.last_assessment}
        lasts.update({training_item(kind): self.last_trainings.get(kind) for kind in TRAINING_KINDS})
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

    def _apply(self, event: DomainEvent) -> None:
        if isinstance(event, OperatorOnboarded):
            self.name, self.agreement_date = event.name, event.agreement_date
        elif isinstance(event, RiskAssessmentRecorded):
            self.last_assessment = later_record(self.last_assessment, event)
        elif isinstance(event, TrainingRecorded):
            self.last_trainings[event.kind] = later_record(self.last_trainings.get(event.kind), event)
        elif isinstance(event, LeakageControlsAttested):
            self.attestation_in_force = later_record(self.attestation_in_force, event)
        elif isinstance(event, StatusRequested):
            self.requests[event.request_id] = StatusRequest(event.request_id, event.subject, event.reply_by)
        elif isinstance(event, StatusReported) and event.request_id in self.requests:
            self.requests[event.request_id].answered = True
            keep_recent(self.requests)
        elif isinstance(event, ComplianceOverdue):
            self.flagged.add((event.item, event.due_date))
        if self.onboarded:  # a flag whose due date moved on (or whose request was answered) is never needed again
            self.flagged &= {(i.item, i.due_date) for i in self.due_items()}

