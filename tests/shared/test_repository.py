"""The one unit of work: load, decide, stage with the expected version and idempotency key (no I/O)."""

from __future__ import annotations

import pytest

from shared.domain import Aggregate, Conflict, NotFound
from shared.events import DomainEvent
from shared.events.incident import IncidentOpened, ReportOverdue
from shared.eventstore import ConcurrencyError, Context
from shared.eventstore.memory import InMemoryEventStore
from shared.repository import Repository
from tests.factories import incident_opened, report_overdue, uid

CTX = Context(actor="soc-alice")


class Case(Aggregate):
    """A small aggregate: opened once, then marked overdue per part."""

    opened: bool
    overdue: set[str]

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.opened, self.overdue = False, set()

    def open(self) -> None:
        if self.opened:
            raise Conflict("already open")
        self._record(incident_opened(self.id))

    def mark(self, *parts: str) -> None:
        for part in parts:
            if part not in self.overdue:
                self._record(report_overdue(self.id, part))

    @property
    def exists(self) -> bool:
        return self.opened

    def _apply(self, event: DomainEvent) -> None:
        if isinstance(event, IncidentOpened):
            self.opened = True
        elif isinstance(event, ReportOverdue):
            self.overdue.add(event.part)


def opened_case(store: InMemoryEventStore) -> tuple[Repository[Case], str]:
    repo, case_id = Repository(store, Case, name="case"), uid("case")
    case = Case(case_id)
    case.open()
    repo.stage(case, context=CTX)
    return repo, case_id


class TestStage:
    def test_staged_events_are_seen_by_the_next_load_without_awaiting(self) -> None:
        store = InMemoryEventStore()
        repo, case_id = opened_case(store)
        case = repo.get(case_id)
        case.mark("initial")
        repo.stage(case, context=CTX)
        assert repo.load(case_id).overdue == {"initial"} and repo.load(case_id).version == 2

    def test_a_decision_on_a_stale_load_is_refused_with_the_current_version(self) -> None:
        store = InMemoryEventStore()
        repo, case_id = opened_case(store)
        first, second = repo.get(case_id), repo.get(case_id)
        first.mark("initial")
        repo.stage(first, context=CTX)
        second.mark("cause")
        with pytest.raises(ConcurrencyError) as refused:
            repo.stage(second, context=CTX)
        assert refused.value.actual == 2

    def test_nothing_decided_stages_nothing(self) -> None:
        store = InMemoryEventStore()
        repo, case_id = opened_case(store)
        assert repo.stage(repo.get(case_id), context=CTX) is None and repo.load(case_id).version == 1

    def test_markers_answer_like_the_idempotency_key(self) -> None:
        store = InMemoryEventStore()
        repo, case_id = opened_case(store)
        case = repo.get(case_id)
        case.mark("initial", "cause")
        repo.stage(case, context=CTX, idempotency_key=f"overdue:{case_id}", markers=[f"overdue:{case_id}:cause"])
        assert [e.sequence for e in store.published if e.subject == case_id] == [1, 2, 3]
        assert store.seen(f"overdue:{case_id}:cause") and repo.load(case_id).version == 3

    def test_a_long_stream_loads_from_its_snapshot(self) -> None:
        store = InMemoryEventStore()
        repo, case_id = opened_case(store)
        for _ in range(200):
            case = repo.get(case_id)
            case.overdue.clear()  # what a decision reads is the snapshot, whatever came before
            case.mark("initial")
            repo.stage(case, context=CTX)
        assert repo.get(case_id).version == 201 and store.snapshot(case_id).state == {"opened": True, "overdue": ["initial"]}


class TestCommands:
    async def test_a_change_on_a_missing_aggregate_is_not_found(self) -> None:
        repo = Repository(InMemoryEventStore(), Case, name="case")
        with pytest.raises(NotFound, match="case nope not found"):
            await repo.change("nope", lambda c: c.mark("initial"), context=CTX)

    async def test_a_change_at_another_version_than_expected_is_a_conflict(self) -> None:
        store = InMemoryEventStore()
        repo, case_id = opened_case(store)
        with pytest.raises(ConcurrencyError):
            await repo.change(case_id, lambda c: c.mark("initial"), context=CTX, expected_version=5)
        assert repo.load(case_id).version == 1

    async def test_a_retried_key_answers_the_first_events_and_decides_nothing_again(self) -> None:
        store = InMemoryEventStore()
        repo = Repository(store, Case, name="case")
        made: list[str] = []

        def make(new: str) -> Case:
            case = Case(new)
            made.append(case.id)
            case.open()
            return case

        first = await repo.create(make, context=CTX, idempotency_key="k1")
        again = await repo.create(make, context=CTX, idempotency_key="k1")
        assert made == [first.aggregate_id] and again.aggregate_id == first.aggregate_id
        assert again.replayed and [type(e).__name__ for e in again.events] == ["IncidentOpened"]

    async def test_the_context_may_follow_from_the_aggregate(self) -> None:
        store = InMemoryEventStore()
        repo, case_id = opened_case(store)
        saved = await repo.change(
            case_id, lambda c: c.mark("initial"), context=lambda c: Context(actor="system", operator_id=f"op-of-{c.id}")
        )
        assert saved.version == 2 and saved.first(ReportOverdue) is not None
        assert store.published[-1].operator_id == f"op-of-{case_id}"


async def test_an_append_the_broker_does_not_confirm_in_time_is_a_503_that_lets_it_still_commit() -> None:
    """Too few in-sync replicas (or the broker away): the caller hears so after the deadline instead of
    waiting for ever, and the append itself is not cancelled (a retry with its key gets its answer)."""
    import asyncio

    from shared.eventstore.ports import AppendResult, CommitUnconfirmed, Staged, StoreUnavailable

    answer: asyncio.Future[AppendResult] = asyncio.get_running_loop().create_future()
    staged = Staged(answer)
    try:
        await staged.committed(within=0.05)
        raise AssertionError("an unconfirmed append must not answer")
    except CommitUnconfirmed as exc:
        assert isinstance(exc, StoreUnavailable) and "Idempotency-Key" in str(exc)
    assert not answer.cancelled()
    answer.set_result(AppendResult((), 3))
    assert (await staged.committed(within=0.05)).version == 3
