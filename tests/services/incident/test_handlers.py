"""Handlers over the in-memory event store: idempotency, versions, anomaly batches, the deadline timer."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from shared.domain import NotFound
from shared.events.incident import AnomalyAttached, ReportOverdue
from shared.eventstore import ConcurrencyError, Context
from shared.eventstore.memory import InMemoryEventStore
from services.incident.application import handlers
from services.incident.application.deadlines import DeadlineWatcher
from services.incident.application.repository import IncidentRepository
from services.incident.domain.anomalies import ConnectionRef
from services.incident.domain.commands import Anomaly, ClearIncident, FileReport, OpenIncident
from shared.events.incident import CauseReport
from shared.events.values import Actor

from tests.services.incident.helpers import DETECTED

CAUSE = CauseReport(cause="原因", countermeasure="対策", countermeasure_plan="計画", recurrence_prevention="再発防止")
DEADLINES = {"initial": timedelta(hours=24), "cause": timedelta(days=14)}
CTX = Context(actor="soc-1")


class Directory:
    """A hand-written fake of the connection directory."""

    def __init__(self, connections=None, blocked=None):
        self.connections = connections or {"conn-1": ConnectionRef("op-a", "special_meter")}
        self.blocked = blocked or {}

    def connection(self, connection_id):
        return self.connections.get(connection_id)

    def blocked_for(self, incident_id):
        return dict(self.blocked.get(incident_id, {}))


class FakeClock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


def report(**overrides) -> OpenIncident:
    values = dict(category="other", severity="low", title="件名", detected_at=DETECTED, opened_by="utility", operator_id="op-a")
    values.update(overrides)
    return OpenIncident(**values)


def anomaly(signal: str, connection: str = "conn-1") -> Anomaly:
    return Anomaly(signal_id=signal, connection_id=connection, type="abnormal_communication", severity="medium", observed_at=DETECTED)


@pytest.fixture
def store():
    return InMemoryEventStore()


@pytest.fixture
def repo(store):
    return IncidentRepository(store)


class TestOpenAndFile:
    async def test_a_retry_with_the_same_idempotency_key_gets_the_first_answer_and_no_second_event(self, repo, store):
        first = await handlers.open_incident(repo, report(), context=CTX, key="k1")
        again = await handlers.open_incident(repo, report(), context=CTX, key="k1")
        assert again.incident_id == first.incident_id and len(store.published) == 1

    async def test_a_retried_report_filing_keeps_its_revision(self, repo, store):
        opened = await handlers.open_incident(repo, report(), context=CTX)
        cmd = FileReport("cause", "utility", cause=CAUSE)
        first = await handlers.file_report(repo, opened.incident_id, cmd, context=CTX, key="r1")
        again = await handlers.file_report(repo, opened.incident_id, cmd, context=CTX, key="r1")
        assert (first.revision, again.revision, len(store.published)) == (1, 1, 2)

    async def test_a_stale_expected_version_is_a_conflict(self, repo):
        opened = await handlers.open_incident(repo, report(), context=CTX)
        cmd = FileReport("cause", "utility", cause=CAUSE)
        await handlers.file_report(repo, opened.incident_id, cmd, context=CTX, expected_version=1)
        with pytest.raises(ConcurrencyError):
            await handlers.file_report(repo, opened.incident_id, cmd, context=CTX, expected_version=1)

    async def test_filing_on_an_unknown_incident_is_not_found(self, repo):
        with pytest.raises(NotFound):
            await handlers.file_report(repo, "nope", FileReport("cause", "utility", cause=CAUSE), context=CTX)


class TestAnomalyBatches:
    async def test_a_batch_on_one_connection_makes_one_incident_with_every_signal(self, repo, store):
        outcomes = await handlers.handle_anomalies(repo, Directory(), [anomaly(f"s{n}") for n in range(500)], actor="ids")
        assert len({o.incident_id for o in outcomes}) == 1
        assert len(store.published) == 501  # opened, detected, 499 attached

    async def test_concurrent_batches_still_make_one_incident_per_connection(self, repo):
        batches = [[anomaly(f"b{b}-s{n}") for n in range(20)] for b in range(5)]
        results = await asyncio.gather(*(handlers.handle_anomalies(repo, Directory(), b, actor="ids") for b in batches))
        assert len({o.incident_id for outcomes in results for o in outcomes}) == 1

    async def test_duplicates_after_a_restart_are_still_recognised(self, store):
        first = await handlers.handle_anomalies(IncidentRepository(store), Directory(), [anomaly("s1")], actor="ids")
        later = await handlers.handle_anomalies(IncidentRepository(store), Directory(), [anomaly("s1"), anomaly("s2")], actor="ids")
        assert later[0].duplicate and later[1].attached and later[1].incident_id == first[0].incident_id
        assert isinstance(store.published[-1].event, AnomalyAttached) and len(store.published) == 3

    async def test_after_clearing_a_new_anomaly_opens_a_new_incident(self, repo):
        [first] = await handlers.handle_anomalies(repo, Directory(), [anomaly("s1")], actor="ids")
        await handlers.file_report(repo, first.incident_id, FileReport("cause", "utility", cause=CAUSE), context=CTX)
        clear = ClearIncident(summary="解消", party="utility", decided_by=Actor(kind="person", id="soc"))
        await handlers.clear_incident(repo, Directory(), first.incident_id, clear, context=CTX)
        [second] = await handlers.handle_anomalies(repo, Directory(), [anomaly("s2")], actor="ids")
        assert second.incident_id != first.incident_id and not second.attached


class TestDeadlineTimer:
    async def test_a_missed_deadline_is_recorded_once_per_part_on_the_fake_clock(self, repo, store):
        clock = FakeClock(DETECTED + timedelta(hours=1))
        watcher = DeadlineWatcher(repo, clock=clock, deadlines=DEADLINES, interval=60)
        opened = await handlers.open_incident(repo, report(), context=CTX)
        assert await watcher.tick() == 0
        clock.now = DETECTED + timedelta(days=15)
        assert await watcher.tick() == 2
        assert await watcher.tick() == 0
        overdue = [e.event for e in store.load(opened.incident_id) if isinstance(e.event, ReportOverdue)]
        assert [o.part for o in overdue] == ["initial", "cause"]
        assert {e.idempotency_key for e in store.load(opened.incident_id)[1:]} == {
            f"overdue:{opened.incident_id}:initial",
            f"overdue:{opened.incident_id}:cause",
        }

    async def test_a_restarted_timer_does_not_record_it_again(self, repo, store):
        clock = FakeClock(DETECTED + timedelta(hours=25))
        await handlers.open_incident(repo, report(), context=CTX)
        assert await DeadlineWatcher(repo, clock=clock, deadlines=DEADLINES, interval=60).tick() == 1
        restarted = DeadlineWatcher(IncidentRepository(store), clock=clock, deadlines=DEADLINES, interval=60)
        assert await restarted.tick() == 0
