"""Background work is watched: a loop that fails is restarted (the service goes on) or the service says it is not
ready and why — never a silent stop. Each fault is injected into a real service on the real broker."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest
from aiokafka.errors import IllegalOperation

from services.audit.bootstrap import build_app as audit_app
from services.incident.config import IncidentSettings
from shared.eventstore.inbox import InboxLoop
from shared.periodic import Periodic
from tests.factories import DETECTED, FakeClock, bearer, connection_registered, eventually, serving, uid
from shared.topics import CONNECTION_EVENTS, SENSOR_ANOMALIES
from tests.faults.conftest import send_raw
from tests.faults.report import record
from tests.services.incident.helpers import anomaly_body, connection_service, incident_body, known, registered, running


def failing_once(target: Any, name: str, error: BaseException, *, after: bool = False) -> dict[str, int]:
    """Make ``target.name`` raise ``error`` on its next call only (``after``: once that call has done its work);
    the count of failures injected."""
    real = getattr(target, name)
    calls = {"failed": 0}

    async def once(*args: Any, **kwargs: Any) -> Any:
        if calls["failed"]:
            return await real(*args, **kwargs)
        if after:
            await real(*args, **kwargs)  # its work is done; its result is dropped with the error
        calls["failed"] += 1
        raise error

    setattr(target, name, once)
    return calls


async def readyz(client: Any) -> tuple[int, dict[str, Any]]:
    answer = await client.get("/readyz")
    return answer.status_code, answer.json()


async def test_a_writer_whose_producer_fails_unexpectedly_fails_appends_says_not_ready_and_recovers(settings, operator_id):
    async with running(settings) as client:
        op = bearer(settings, "operator", operator_id)
        writers = client.app.state.runtime.store.writers
        broken = {"on": True}
        for writer in writers.values():
            real = writer._producer.begin_transaction

            def begin(real=real) -> None:
                if broken["on"]:
                    raise IllegalOperation("transaction state machine: begin from an unexpected state")
                return real()

            writer._producer.begin_transaction = begin
        refused = await client.post("/incidents", json=incident_body(), headers=op)
        status, body = await readyz(client)
        degraded = {name: task for name, task in body["tasks"].items() if "degraded" in task}
        broken["on"] = False

        async def created() -> Any:
            answer = await client.post("/incidents", json=incident_body(), headers=op)
            return answer if answer.status_code == 201 else None

        recovered = await eventually(lambda: _ready(client), timeout=30, what="ready again with no traffic")
        accepted = await eventually(created, what="an append after the fault")
        held = (
            refused.status_code == 503 and status == 503 and degraded
            and all("IllegalOperation" in task["degraded"] for task in degraded.values())
            and accepted.status_code == 201 and recovered
        )  # fmt: skip
        record(
            fault="event store writer: the producer raises an unexpected error (IllegalOperation)",
            invariant="the append fails at once (503), /readyz is false naming the writer and the error, and later appends commit",
            outcome="held" if held else "broken", refused=refused.status_code, readyz=status, degraded=sorted(degraded),
        )  # fmt: skip
        assert refused.status_code == 503, refused.text
        assert status == 503 and degraded and set(body["failing"]) == set(degraded)
        assert all(name.startswith("eventstore-writer:p") and "IllegalOperation" in t["degraded"] for name, t in degraded.items())
        assert accepted.status_code == 201, accepted.text
        incident_id = accepted.json()["id"]
        await eventually(lambda: _found(client, incident_id, op), what="the incident committed after the fault")


async def _found(client: Any, incident_id: str, headers: dict[str, str]) -> bool:
    return (await client.get(f"/incidents/{incident_id}", headers=headers)).status_code == 200


async def test_a_subscriber_whose_fetch_raises_is_restarted_and_applies_what_follows(settings, operator_id):
    async with running(settings) as client:
        subscriber = client.app.state.runtime.subscribers[0]
        injected = failing_once(subscriber._consumer, "getmany", RuntimeError("injected: fetch failed unexpectedly"))
        await eventually(lambda: subscriber.supervised()[0].restarts >= 1, what="the subscriber restarted")
        _, body = await readyz(client)
        task = body["tasks"][f"subscriber:{subscriber.name}"]
        connection_id = uid("conn")
        async with connection_service(settings) as connections:
            await connections.append(connection_id, [connection_registered(connection_id, operator_id)])
        await known(client.svc, connection_id)
        record(
            fault="subscriber: getmany raises an unexpected exception",
            invariant="the loop is restarted with back-off (named with its error in /readyz) and applies later events",
            outcome="held", injected=injected["failed"], restarts=task["restarts"],
        )  # fmt: skip
        assert injected["failed"] == 1 and task["restarts"] >= 1 and "RuntimeError" in task["error"]


async def test_a_subscriber_whose_dead_letter_send_fails_reads_the_record_again_and_goes_on(settings, operator_id):
    async with running(settings) as client:
        runtime = client.app.state.runtime
        injected = failing_once(runtime.dead_letters, "send", RuntimeError("injected: dead-letter topic refused"))
        connection_id = uid("conn")
        await send_raw(settings, CONNECTION_EVENTS, [(b"x", b"\xff not json")])
        async with connection_service(settings) as connections:
            await connections.append(connection_id, [connection_registered(connection_id, operator_id)])
        await known(client.svc, connection_id)
        await eventually(lambda: runtime.dead_letters.count >= 1, what="the unreadable record dead-lettered on the retry")
        restarts = runtime.subscribers[0].supervised()[0].restarts
        record(
            fault="subscriber: the dead-letter send raises",
            invariant="the unreadable record is read again and dead-lettered; the good record after it is applied",
            outcome="held", injected=injected["failed"], dead_lettered=runtime.dead_letters.count, restarts=restarts,
        )  # fmt: skip
        assert injected["failed"] == 1 and restarts >= 1


async def test_the_audit_consumer_whose_fetch_raises_is_restarted_and_logs_what_follows(settings, operator_id):
    app = audit_app(settings)
    async with serving(app) as client:
        consumer = app.state.runtime.subscribers[0]
        injected = failing_once(consumer._consumer, "getmany", RuntimeError("injected: fetch failed unexpectedly"))
        await eventually(lambda: consumer.supervised()[0].restarts >= 1, what="the audit consumer restarted")
        connection_id = uid("conn")
        async with connection_service(settings) as connections:
            await connections.append(connection_id, [connection_registered(connection_id, operator_id)])
        auditor = bearer(settings, "auditor")

        async def logged() -> bool:
            answer = await client.get("/audit/entries", params={"subject": connection_id}, headers=auditor)
            return answer.status_code == 200 and len(answer.json()) >= 1

        await eventually(logged, what="the event logged after the restart")
        status, body = await readyz(client)
        record(
            fault="audit consumer: getmany raises an unexpected exception",
            invariant="the consumer is restarted and logs the events that follow; /readyz is ready again",
            outcome="held" if status == 200 else "broken", injected=injected["failed"],
            restarts=body["tasks"]["consumer:audit.log"]["restarts"],
        )  # fmt: skip
        assert injected["failed"] == 1 and body["tasks"]["consumer:audit.log"]["restarts"] >= 1
        await eventually(lambda: _ready(client), what="the audit service ready again")


async def _ready(client: Any) -> bool:
    return (await client.get("/readyz")).status_code == 200


async def test_a_crashed_router_agent_makes_the_service_not_ready_and_says_which(settings):
    from shared.runtime import FaustComponent
    from tests.services.connection.helpers import app_for

    app = app_for(settings)
    async with serving(app) as client:
        faust = next(c for c in app.state.runtime._started if isinstance(c, FaustComponent))
        agent = next(iter(faust.app.agents.values()))
        await agent.crash(RuntimeError("injected: the router's handler raised"))

        async def not_ready() -> Any:
            status, body = await readyz(client)
            return body if status == 503 and body.get("failing") else None

        body = await eventually(not_ready, what="/readyz false after the agent crashed")
        task = body["tasks"][body["failing"][0]]
        held = body["failing"][0].startswith("faust:") and "injected" in task["error"]
        record(
            fault="faust router agent crashes",
            invariant="/readyz turns false naming the faust worker and the error (no silent stop)",
            outcome="held" if held else "broken", failing=body["failing"],
        )  # fmt: skip
        assert held, body


# --------------------------------------------------------------------------- the inbox loop


def _sensor(connection_id: str, signal_id: str) -> tuple[bytes, bytes]:
    """A sensor's anomaly record on the incident service's inbox (keyed by its connection)."""
    return connection_id.encode(), json.dumps(anomaly_body(connection_id, signal_id), ensure_ascii=False).encode()


@pytest.mark.parametrize("after", [False, True], ids=["before-the-batch-is-decided", "after-the-batch-was-decided"])
async def test_an_inbox_loop_whose_body_fails_is_restarted_and_decides_each_record_once(settings, operator_id, after):
    connection_id = uid("conn")
    await registered(settings, connection_id, operator_id)
    async with running(settings) as client:
        svc, intake = client.svc, client.app.state.intake
        loop = next(c for c in client.app.state.runtime._started if isinstance(c, InboxLoop))
        task = loop.supervised()[0]
        await known(svc, connection_id)
        injected = failing_once(loop, "_one", RuntimeError("injected: the inbox loop failed unexpectedly"), after=after)
        await send_raw(settings, SENSOR_ANOMALIES, [_sensor(connection_id, "sig-1")])
        await eventually(lambda: task.restarts >= 1, what="the inbox loop restarted")
        _, body = await readyz(client)
        view = body["tasks"][task.name]
        await send_raw(settings, SENSOR_ANOMALIES, [_sensor(connection_id, "sig-2")])
        [incident_id] = await eventually(lambda: svc.store.find("connection", connection_id), what="the incident")
        projected = await eventually(lambda: _version_at_least(svc, incident_id, 3), what="both signals projected")
        items, total = svc.views.anomalies(incident_id, offset=0, limit=10)
        signals = sorted(a["signal_id"] for a in items)
        ready = await eventually(lambda: _ready(client), what="ready again")
        held = (
            injected["failed"] == 1 and view["restarts"] >= 1 and "RuntimeError" in view.get("error", "")
            and projected["version"] == 3 and total == 2 and signals == ["sig-1", "sig-2"] and ready
        )  # fmt: skip
        record(
            fault=f"inbox loop: its body raises an unexpected error {'after' if after else 'before'} deciding a batch",
            invariant="the loop is restarted (named with its error in /readyz); each record, the failed batch's and "
            "those after it, is decided once",
            outcome="held" if held else "broken", injected=injected["failed"], restarts=view["restarts"],
            version=projected["version"], anomalies=total, intake_decided=intake.decided,
        )  # fmt: skip
        assert injected["failed"] == 1 and view["restarts"] >= 1 and "RuntimeError" in view["error"], view
        assert projected["version"] == 3 and (total, signals) == (2, ["sig-1", "sig-2"]), (projected, items)


def _version_at_least(svc: Any, incident_id: str, version: int) -> Any:
    view = svc.views.incident(incident_id) or {}
    return view if view.get("version", 0) >= version else None


# --------------------------------------------------------------------------- the event store's writer loop


async def test_a_writer_loop_that_ends_is_restarted_and_later_appends_commit(settings, operator_id):
    async with running(settings) as client:
        op = bearer(settings, "operator", operator_id)
        store = client.app.state.runtime.store
        writers = dict(store.writers)
        # _next is what the loop awaits between batches, outside the try around each commit: its error ends the loop
        injected = {
            k: failing_once(writer, "_next", RuntimeError(f"injected: the writer loop of p{k} failed"))
            for k, writer in writers.items()
        }  # fmt: skip
        created: dict[int, list[str]] = {k: [] for k in writers}
        refused: list[int] = []

        async def each_partition_appends_after_its_loop_ended() -> bool:
            answer = await client.post("/incidents", json=incident_body(), headers=op)
            if answer.status_code != 201:
                refused.append(answer.status_code)
                return False
            created[store.partition_of(answer.json()["id"])].append(answer.json()["id"])
            # a partition's first append is committed by the loop that then ends; the ones after it by its restart
            return all(len(ids) >= 2 for ids in created.values())

        await eventually(each_partition_appends_after_its_loop_ended, timeout=30, what="two appends on each partition")
        after = {k: ids[1] for k, ids in created.items()}
        ready = await eventually(lambda: _ready(client), what="ready again")
        _, body = await readyz(client)
        tasks = {name: task for name, task in body["tasks"].items() if name.startswith("eventstore-writer:p")}
        for incident_id in after.values():
            await eventually(lambda incident_id=incident_id: _found(client, incident_id, op), what="the append committed")
        held = (
            not refused and ready and len(tasks) == len(writers)
            and all(t["restarts"] >= 1 and "injected" in t.get("error", "") for t in tasks.values())
        )  # fmt: skip
        record(
            fault="event store writer: its loop ends with an unexpected error between batches",
            invariant="the loop is restarted; every later append commits (201, readable), none refused; /readyz true",
            outcome="held" if held else "broken", refused=refused, restarts={n: t["restarts"] for n, t in tasks.items()},
        )  # fmt: skip
        assert not refused and all(calls["failed"] == 1 for calls in injected.values())
        assert all(t["restarts"] >= 1 and "RuntimeError: injected" in t["error"] for t in tasks.values()), tasks


# --------------------------------------------------------------------------- timers


def _timer(app: Any, name: str) -> Periodic:
    return next(c for c in app.state.runtime._started if isinstance(c, Periodic) and c.name == name)


def _deadlines_checked_often() -> dict[str, Any]:
    """The incident service with a deadline check every 50 ms, on a clock the test moves."""
    options = IncidentSettings(deadline_check_seconds=0.05, initial_report_deadline_hours=2, cause_report_deadline_hours=48)
    return {"options": options, "clock": FakeClock(DETECTED + timedelta(hours=1))}


async def _overdue_recorded(client: Any, settings: Any, operator_id: str, clock: FakeClock) -> Any:
    """Open an incident, let its initial report's deadline pass; the incident once a tick has recorded it overdue."""
    soc = bearer(settings, "utility_soc")
    created = await client.post("/incidents", json=incident_body(operator_id=operator_id), headers=soc)
    assert created.status_code == 201, created.text
    incident_id = created.json()["id"]
    clock.advance(hours=2)

    async def overdue() -> Any:
        view = (await client.get(f"/incidents/{incident_id}", headers=soc)).json()
        return view if view.get("overdue") else None

    return await eventually(overdue, what="the missed deadline recorded by a later tick")


async def test_a_timer_whose_tick_raises_logs_it_and_the_next_tick_runs(settings, operator_id, caplog):
    service = _deadlines_checked_often()
    async with running(settings, **service) as client:
        deadlines = _timer(client.app, "incident-deadlines")
        task = deadlines.supervised()[0]
        injected = failing_once(deadlines, "_tick", RuntimeError("injected: the deadline check failed"))
        await eventually(lambda: injected["failed"] == 1, what="the failing tick ran")
        ticks = deadlines.ticks
        status_after_failure, _ = await readyz(client)
        view = await _overdue_recorded(client, settings, operator_id, service["clock"])
        status, body = await readyz(client)
        logged = [
            r for r in caplog.records
            if r.getMessage() == "periodic task failed" and getattr(r, "task", None) == "incident-deadlines"
            and r.exc_info and "injected" in str(r.exc_info[1])
        ]  # fmt: skip
        held = (
            len(logged) == 1 and deadlines.ticks > ticks and view["overdue"][0]["part"] == "initial"
            and status_after_failure == status == 200 and body["tasks"]["incident-deadlines"]["restarts"] == 0
        )  # fmt: skip
        record(
            fault="timer: a tick raises (the deadline check)",
            invariant="the error is logged, the timer ticks on (the next tick records the missed deadline), "
            "the service stays ready",
            outcome="held" if held else "broken", logged=len(logged), ticks_after=deadlines.ticks - ticks,
            restarts=task.restarts, readyz=status,
        )  # fmt: skip
        assert len(logged) == 1 and deadlines.ticks > ticks, (len(logged), deadlines.ticks, ticks)
        assert status_after_failure == status == 200 and task.restarts == 0 and task.state == "running", body


async def test_a_timer_whose_task_ends_is_started_again_and_ticks_on(settings, operator_id):
    service = _deadlines_checked_often()
    async with running(settings, **service) as client:
        deadlines = _timer(client.app, "incident-deadlines")
        task = deadlines.supervised()[0]
        # What the tick awaits was cancelled by someone else: a CancelledError the timer's task was not asked for,
        # which no ``except Exception`` catches — it ends the task.
        cancelled = asyncio.CancelledError("injected: a future the tick awaited was cancelled elsewhere")
        injected = failing_once(deadlines, "_tick", cancelled)
        await eventually(lambda: injected["failed"] == 1, what="the tick that ends the task ran")
        restarted = await eventually(lambda: task.restarts >= 1, what="the timer's task started again")
        view = await _overdue_recorded(client, settings, operator_id, service["clock"])
        ready = await eventually(lambda: _ready(client), what="ready again")
        _, body = await readyz(client)
        shown = body["tasks"]["incident-deadlines"]
        held = restarted and view["overdue"][0]["part"] == "initial" and ready and "CancelledError" in shown.get("error", "")
        record(
            fault="timer: its task ends (a CancelledError it was not asked for escapes the tick)",
            invariant="the task is started again (named with its error in /readyz) and the next ticks run",
            outcome="held" if held else "broken", restarts=task.restarts, error=shown.get("error"),
        )  # fmt: skip
        assert shown["restarts"] >= 1 and "CancelledError" in shown["error"], shown
