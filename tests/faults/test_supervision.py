"""Background work is watched: a loop that fails is restarted (the service goes on) or the service says it is not
ready and why — never a silent stop. Each fault is injected into a real service on the real broker."""

from __future__ import annotations

from typing import Any

from aiokafka.errors import IllegalOperation

from services.audit.bootstrap import build_app as audit_app
from tests.factories import bearer, connection_registered, eventually, serving, uid
from shared.topics import CONNECTION_EVENTS
from tests.faults.conftest import send_raw
from tests.faults.report import record
from tests.services.incident.helpers import connection_service, incident_body, known, running


def failing_once(target: Any, name: str, error: BaseException) -> dict[str, int]:
    """Make ``target.name`` raise ``error`` on its next call only; the count of failures injected."""
    real = getattr(target, name)
    calls = {"failed": 0}

    async def once(*args: Any, **kwargs: Any) -> Any:
        if not calls["failed"]:
            calls["failed"] += 1
            raise error
        return await real(*args, **kwargs)

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
