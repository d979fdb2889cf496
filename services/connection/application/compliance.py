"""Part 5 handlers: record the yearly duties, ask for and answer status, flag what is overdue.

Dates are calendar days in Japan (JST, UTC+9), where the agreement is lived: "today" is the
injected clock's day in JST, so a record dated today in Tokyo is never "in the future".
"""

from __future__ import annotations

import asyncio
import logging
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable, Iterable

from services.connection.domain.operator import Operator
from services.connection.domain.standing import standing
from shared.envelope import new_id, utcnow
from shared.eventstore import ConcurrencyError, Context, EventStore
from shared.events.operator import ComplianceOverdue
from shared.events.values import Actor
from shared.domain import not_found

log = logging.getLogger(__name__)
JST = timezone(timedelta(hours=9), "JST")
Clock = Callable[[], datetime]
ATTEMPTS = 3  # a concurrent append to the same operator (e.g. the overdue check) is simply retried


class ComplianceHandlers:
    """One method per part-5 command; every change is an event on the operator's stream."""

    def __init__(self, *, store: EventStore, clock: Clock | None = None, upcoming_days: int = 30) -> None:
        self.store, self.clock, self.upcoming_days = store, clock or utcnow, upcoming_days

    def today(self) -> date:
        """The clock's calendar day in Japan."""
        return self.clock().astimezone(JST).date()

    def operator(self, operator_id: str) -> Operator:
        """An onboarded operator, or 404."""
        operator = Operator.rehydrate(operator_id, [e.event for e in self.store.load(operator_id)])
        if not operator.onboarded:
            raise not_found("operator", operator_id)
        return operator

    async def _change(
        self, operator_id: str, decide: Callable[[Operator], None], *, context: Context, key: str | None
    ) -> Any:
        for attempt in range(1, ATTEMPTS + 1):
            operator = self.operator(operator_id)
            decide(operator)
            events = operator.take_pending()
            try:
                result = await self.store.append(
                    operator_id, events, expected_version=operator.version, idempotency_key=key, context=context
                )
            except ConcurrencyError:
                if attempt == ATTEMPTS:
                    raise
                continue
            return result.envelopes[0].event
        raise AssertionError("unreachable")

    async def record_assessment(self, operator_id: str, *, on: date, context: Context, key: str | None, **fields: str) -> str:
        """Record a risk assessment; returns its id."""
        new = new_id()
        decide = lambda o: o.record_assessment(assessment_id=new, on=on, today=self.today(), **fields)  # noqa: E731
        return (await self._change(operator_id, decide, context=context, key=key)).assessment_id

    async def record_training(
        self, operator_id: str, *, on: date, kind: str, participants: int, context: Context, key: str | None
    ) -> str:
        """Record education or a drill; returns its id."""
        new = new_id()

        def decide(o: Operator) -> None:
            o.record_training(training_id=new, on=on, kind=kind, participants=participants, today=self.today())

        return (await self._change(operator_id, decide, context=context, key=key)).training_id

    async def attest(
        self, operator_id: str, *, on: date, controls: list[str], attested_by: str, coverage: dict[str, list[str]],
        context: Context, key: str | None,
    ) -> None:
        """Attest the leakage controls."""

        def decide(o: Operator) -> None:
            o.attest_leakage_controls(on=on, controls=controls, attested_by=attested_by, coverage=coverage, today=self.today())

        await self._change(operator_id, decide, context=context, key=key)

    async def request_status(
        self, operator_id: str, *, subject: str, reply_by: date, decided_by: Actor, context: Context, key: str | None
    ) -> str:
        """The utility asks for the operator's status; returns the request id."""
        new = new_id()

        def decide(o: Operator) -> None:
            o.request_status(request_id=new, subject=subject, reply_by=reply_by, decided_by=decided_by, today=self.today())

        return (await self._change(operator_id, decide, context=context, key=key)).request_id

    async def report_status(self, operator_id: str, *, request_id: str, summary: str, context: Context, key: str | None) -> dict[str, Any]:
        """Answer a request; returns the records the report carries."""

        def decide(o: Operator) -> None:
            o.report_status(request_id=request_id, summary=summary, today=self.today(), within_days=self.upcoming_days)

        return dict((await self._change(operator_id, decide, context=context, key=key)).records)

    def standing(self, operator_id: str) -> dict[str, Any]:
        """The operator's compliance standing today."""
        operator = self.operator(operator_id)
        return {"operator_id": operator_id, "name": operator.name, **standing(operator, self.today(), within_days=self.upcoming_days)}

    async def flag_overdue(self, operator_ids: Iterable[str]) -> list[ComplianceOverdue]:
        """Append one ``ComplianceOverdue`` per newly overdue item (keyed by operator, item and due date)."""
        today, flagged = self.today(), []
        for operator_id in operator_ids:
            for attempt in range(1, ATTEMPTS + 1):
                try:
                    flagged += await self._flag(operator_id, today)
                    break
                except ConcurrencyError:
                    if attempt == ATTEMPTS:
                        raise
        return flagged

    async def _flag(self, operator_id: str, today: date) -> list[ComplianceOverdue]:
        operator = Operator.rehydrate(operator_id, [e.event for e in self.store.load(operator_id)])
        version, flagged = operator.version, []
        context = Context(actor="smguard/connection:compliance", operator_id=operator_id)
        for event in operator.flag_overdue(today):
            key = f"connection:compliance-overdue:{operator_id}:{event.item}:{event.due_date.isoformat()}"
            result = await self.store.append(
                operator_id, [event], expected_version=version, idempotency_key=key, context=context
            )
            version = result.version
            flagged += [] if result.replayed else [event]
        return flagged


class ComplianceWatch:
    """The daily check as a background task: at start, then every ``period`` seconds."""

    def __init__(self, handlers: ComplianceHandlers, operator_ids: Callable[[], Iterable[str]], *, period: float) -> None:
        self.handlers, self.operator_ids, self.period = handlers, operator_ids, period
        self.checks = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start checking."""
        self._task = asyncio.create_task(self._run(), name="compliance-watch")

    async def stop(self) -> None:
        """Stop checking."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def check(self) -> list[ComplianceOverdue]:
        """One check over every onboarded operator."""
        flagged = await self.handlers.flag_overdue(list(self.operator_ids()))
        for event in flagged:
            log.info("compliance overdue", extra={"operator_id": event.operator_id, "item": event.item, "due_date": str(event.due_date)})
        self.checks += 1
        return flagged

    async def _run(self) -> None:
        while True:
            try:
                await self.check()
            except Exception:  # a broker hiccup must not end the daily check; the next run catches up
                log.exception("compliance check failed")
            await asyncio.sleep(self.period)
