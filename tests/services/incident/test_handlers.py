"""Handlers over the in-memory event store and directory: idempotency, versions, parties, anomaly batches, deadlines,
decisions taken from snapshots, the inbox record of a batch."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest

from shared.domain import Forbidden, Invalid, NotFound
from shared.events.incident import AnomalyAttached, CauseReport, ReportOverdue
from shared.eventstore import ConcurrencyError, Context, InboxRecord
from shared.eventstore.memory import InMemoryEventStore
from shared.principal import Principal
from services.incident.adapters.memory import InMemoryConnectionDirectory
from services.incident.application import handlers
from services.incident.application.anomalies import handle_anomalies, record_anomaly
from services.incident.application.handlers import AsParty
from services.incident.application.service import IncidentService
from services.incident.domain.commands import Anomaly, ClearIncident, DeclareVulnerability, FileReport, OpenIncident
from services.incident.projections.readmodel import IncidentReadModel
from shared.envelope import Envelope
from tests.factories import DETECTED, FakeClock, connection_registered

CAUSE = CauseReport(cause="原因", countermeasure="対策", countermeasure_plan="計画", recurrence_prevention="再発防止")
DEADLINES = {"initial": timedelta(hours=24), "cause": timedelta(days=14)}
SOC = Principal(sub="soc-1", role="utility_soc")
OPERATOR = Principal(sub="op-a-staff", role="operator", operator_id="op-a")
CTX = Context(actor="soc-1")


def report(**overrides) -> OpenIncident:
    values = dict(category="other", severity="low", title="件名", detected_at=DETECTED, operator_id="op-a")
    values.update(overrides)
    return OpenIncident(**values)


def anomaly(signal: str, connection: str = "conn-1") -> Anomaly:
    return Anomaly(signal_id=signal, connection_id=connection, type="abnormal_communication", severity="medium", observed_at=DETECTED)


def events_of(store, incident_id):
    return [e for e in store.published if e.subject == incident_id]


@pytest.fixture
def store():
    return InMemoryEventStore()


@pytest.fixture
def views(tmp_path):
    model = IncidentReadModel(tmp_path / "readmodel.sqlite")
    yield model
    model.close()


@pytest.fixture
def directory():
    known = InMemoryConnectionDirectory()
    known.register("conn-1", "op-a")
    return known


@pytest.fixture
def clock():
    return FakeClock(DETECTED + timedelta(hours=1))


def service_over(store, directory, clock, views) -> IncidentService:
    """A service as a restarted process would have it: a new repository over the same store (its snapshots and keys)."""
    return IncidentService.over(store, directory=directory, views=views, clock=clock, deadlines=DEADLINES)


@pytest.fixture
def svc(store, directory, clock, views):
    return service_over(store, directory, clock, views)


async def opened(svc, **overrides) -> str:
    return (await handlers.open_incident(svc, report(**overrides), by=SOC, context=CTX)).incident_id


class TestOpenAndFile:
    async def test_a_retry_with_the_same_idempotency_key_gets_the_first_answer_and_no_second_event(self, svc, store):
        first = await handlers.open_incident(svc, report(), by=SOC, context=CTX, key="k1")
        again = await handlers.open_incident(svc, report(), by=SOC, context=CTX, key="k1")
        assert again == first and len(store.published) == 1

    async def test_a_retried_report_filing_keeps_its_revision(self, svc, store):
        incident_id = await opened(svc)
        cmd = FileReport("cause", cause=CAUSE)
        first = await handlers.file_report(svc, cmd, write=AsParty(incident_id, SOC, CTX, key="r1"))
        again = await handlers.file_report(svc, cmd, write=AsParty(incident_id, SOC, CTX, key="r1"))
        assert (first.revision, again, len(store.published)) == (1, first, 2)

    async def test_a_stale_expected_version_is_a_conflict(self, svc):
        incident_id = await opened(svc)
        cmd = FileReport("cause", cause=CAUSE)
        await handlers.file_report(svc, cmd, write=AsParty(incident_id, SOC, CTX, expected_version=1))
        with pytest.raises(ConcurrencyError):
            await handlers.file_report(svc, cmd, write=AsParty(incident_id, SOC, CTX, expected_version=1))

    async def test_filing_on_an_unknown_incident_is_not_found(self, svc):
        with pytest.raises(NotFound):
            await handlers.file_report(svc, FileReport("cause", cause=CAUSE), write=AsParty("nope", SOC, CTX))

    async def test_a_retried_declaration_answers_the_first_incident(self, svc, store):
        cmd = DeclareVulnerability(title="脆弱性", severity="critical", asset_kind="special_meter", maker="M", model="X", firmware="1.2")
        first = await handlers.declare_vulnerability(svc, cmd, context=CTX, key="v1")
        again = await handlers.declare_vulnerability(svc, cmd, context=CTX, key="v1")
        assert again == first and [e.type for e in store.published] == ["IncidentOpened", "VulnerabilityDeclared"]

    async def test_an_operator_reports_for_itself_and_naming_another_is_forbidden(self, svc, store):
        mine = await handlers.open_incident(svc, report(operator_id=None), by=OPERATOR, context=Context(operator_id="op-a"))
        assert events_of(store, mine.incident_id)[0].event.operator_id == "op-a"
        with pytest.raises(Forbidden):
            await handlers.open_incident(svc, report(operator_id="op-b"), by=OPERATOR, context=Context(operator_id="op-a"))
        assert len(store.published) == 1


class TestTenantOfAWrite:
    async def test_the_utilitys_write_carries_the_incidents_operator(self, svc, store):
        incident_id = await opened(svc, operator_id="op-a")
        await handlers.file_report(svc, FileReport("cause", cause=CAUSE), write=AsParty(incident_id, SOC, CTX))
        assert [e.operator_id for e in events_of(store, incident_id)] == ["op-a", "op-a"]

    async def test_an_operator_concerned_by_a_block_writes_as_itself(self, svc, store, directory):
        incident_id = await opened(svc, operator_id=None)
        directory.register("conn-b", "op-b")
        directory.block("conn-b", incident_id=incident_id)
        other = Principal(sub="op-b-staff", role="operator", operator_id="op-b")
        await handlers.file_report(svc, FileReport("cause", cause=CAUSE), write=AsParty(incident_id, other, Context(operator_id="op-b")))
        assert events_of(store, incident_id)[-1].operator_id == "op-b"

    async def test_a_stranger_with_a_stale_version_learns_nothing_but_not_found(self, svc):
        incident_id = await opened(svc, operator_id="op-a")
        stranger = Principal(sub="op-x-staff", role="operator", operator_id="op-x")
        with pytest.raises(NotFound):
            cmd = FileReport("cause", cause=CAUSE)
            await handlers.file_report(svc, cmd, write=AsParty(incident_id, stranger, CTX, expected_version=7))


class TestAnomalyBatches:
    async def test_a_batch_on_one_connection_makes_one_incident_with_every_signal(self, svc, store):
        outcomes = await handle_anomalies(svc, [anomaly(f"s{n}") for n in range(500)], context=CTX)
        assert len({o.incident_id for o in outcomes}) == 1
        assert len(store.published) == 501  # opened, detected, 499 attached
        assert {e.operator_id for e in store.published} == {"op-a"}

    async def test_each_signal_is_its_own_append_so_its_marker_answers_its_own_event(self, svc, store):
        await handle_anomalies(svc, [anomaly(f"s{n}") for n in range(3)], context=CTX)
        assert [e.type for e in (await store.answer("signal:s0")).envelopes] == ["IncidentOpened", "AnomalyDetected"]
        assert [e.type for e in (await store.answer("signal:s2")).envelopes] == ["AnomalyAttached"]

    async def test_concurrent_batches_still_make_one_incident_per_connection(self, svc):
        batches = [[anomaly(f"b{b}-s{n}") for n in range(20)] for b in range(5)]
        results = await asyncio.gather(*(handle_anomalies(svc, b, context=CTX) for b in batches))
        assert len({o.incident_id for outcomes in results for o in outcomes}) == 1

    async def test_duplicates_after_a_restart_are_still_recognised(self, store, directory, clock, views):
        first = await handle_anomalies(service_over(store, directory, clock, views), [anomaly("s1")], context=CTX)
        restarted = service_over(store, directory, clock, views)
        later = await handle_anomalies(restarted, [anomaly("s1"), anomaly("s2")], context=CTX)
        assert later[0].duplicate and later[1].attached and later[1].incident_id == first[0].incident_id
        assert isinstance(store.published[-1].event, AnomalyAttached) and len(store.published) == 3

    async def test_after_clearing_a_new_anomaly_opens_a_new_incident(self, svc, store):
        [first] = await handle_anomalies(svc, [anomaly("s1")], context=CTX)
        await handlers.file_report(svc, FileReport("cause", cause=CAUSE), write=AsParty(first.incident_id, SOC, CTX))
        await handlers.clear_incident(svc, ClearIncident("解消"), write=AsParty(first.incident_id, SOC, CTX))
        assert store.find("connection", "conn-1") == []
        [second] = await handle_anomalies(svc, [anomaly("s2")], context=CTX)
        assert second.incident_id != first.incident_id and not second.attached
        assert store.find("connection", "conn-1") == [second.incident_id]

    async def test_a_signal_on_an_unknown_connection_is_refused_and_leaves_no_trace(self, svc, store):
        [refused] = await handle_anomalies(svc, [anomaly("s1", "conn-x")], context=CTX)
        assert refused.refused == "unknown connection conn-x" and store.published == []
        assert not store.seen("signal:s1")
        with pytest.raises(Invalid, match="unknown connection conn-x"):
            await record_anomaly(svc, anomaly("s1", "conn-x"), context=CTX)

    async def test_a_connection_registered_after_a_refused_signal_is_known_to_the_next_one(self, store, clock, views):
        svc = service_over(store, views, clock, views)  # the read model as the directory, as the service runs
        [refused] = await handle_anomalies(svc, [anomaly("s1", "conn-x")], context=CTX)
        assert refused.refused == "unknown connection conn-x"
        registered = Envelope(event=connection_registered("conn-x", "op-b"), subject="conn-x", sequence=1, source="smguard/connection")
        await views.apply(registered, resume_at=1)
        [opened] = await handle_anomalies(svc, [anomaly("s2", "conn-x")], context=CTX)
        assert opened.refused is None and not opened.attached
        assert store.find("connection", "conn-x") == [opened.incident_id]


class TestTheInboxRecordOfABatch:
    async def test_the_last_records_offset_commits_with_the_last_append(self, svc, store):
        last = InboxRecord("sensors", 0, 41)
        await handle_anomalies(svc, [anomaly("s1"), anomaly("s2")], context=CTX, inbox=last)
        assert store.consumed_records == [last] and len(store.published) == 3

    async def test_a_batch_that_decides_nothing_is_consumed_all_the_same(self, svc, store):
        await handle_anomalies(svc, [anomaly("s1")], context=CTX)
        last = InboxRecord("sensors", 0, 42)
        [duplicate, unknown] = await handle_anomalies(svc, [anomaly("s1"), anomaly("s2", "conn-x")], context=CTX, inbox=last)
        assert duplicate.duplicate and unknown.refused and store.consumed_records == [last]
        assert len(store.published) == 2


class TestStateFromSnapshots:
    async def test_thousands_of_attached_anomalies_leave_the_snapshot_as_small_as_the_first(self, svc, store, directory, clock, views):
        [first] = await handle_anomalies(svc, [anomaly("s0")], context=CTX)
        small = store.snapshot(first.incident_id)
        await handle_anomalies(svc, [anomaly(f"s{n}") for n in range(1, 3001)], context=CTX)
        big = store.snapshot(first.incident_id)
        assert big.version == 3002 and big.state == small.state and big.index == small.index
        assert len(json.dumps(big.state)) == len(json.dumps(small.state))
        restarted = service_over(store, directory, clock, views)  # decides from the snapshot: nothing is folded
        await handlers.file_report(restarted, FileReport("cause", cause=CAUSE), write=AsParty(first.incident_id, SOC, CTX))
        cleared = await handlers.clear_incident(restarted, ClearIncident("解消"), write=AsParty(first.incident_id, SOC, CTX))
        assert cleared.version == 3004 and store.find("open", "1") == []


class TestDeadlineTimer:
    async def test_a_missed_deadline_is_recorded_once_per_part_on_the_fake_clock(self, svc, store, clock):
        incident_id = await opened(svc)
        assert await handlers.check_deadlines(svc) == 0
        clock.now = DETECTED + timedelta(days=15)
        assert await handlers.check_deadlines(svc) == 2
        assert await handlers.check_deadlines(svc) == 0
        overdue = [e for e in events_of(store, incident_id) if isinstance(e.event, ReportOverdue)]
        assert [o.event.part for o in overdue] == ["initial", "cause"]  # one append: keyed by the first part
        assert {o.idempotency_key for o in overdue} == {f"overdue:{incident_id}:initial"}
        assert store.seen(f"overdue:{incident_id}:cause")  # and recognised by the second as a marker
        assert {o.actor for o in overdue} == {"system:deadlines"} and {o.operator_id for o in overdue} == {"op-a"}

    async def test_a_restarted_timer_does_not_record_it_again(self, svc, store, directory, clock, views):
        await opened(svc)
        clock.advance(hours=25)
        assert await handlers.check_deadlines(svc) == 1
        assert await handlers.check_deadlines(service_over(store, directory, clock, views)) == 0

    async def test_a_cleared_incident_is_no_longer_watched(self, svc, store, clock):
        incident_id = await opened(svc)
        await handlers.file_report(svc, FileReport("cause", cause=CAUSE), write=AsParty(incident_id, SOC, CTX))
        await handlers.clear_incident(svc, ClearIncident("解消"), write=AsParty(incident_id, SOC, CTX))
        clock.advance(days=30)
        assert store.find("open", "1") == [] and await handlers.check_deadlines(svc) == 0
