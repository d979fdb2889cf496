"""The incident service with the real broker: the envelope on the topic, restarting from snapshots and durable read
models, the sensors' topic as the inbox, two instances sharing the partitions."""

from __future__ import annotations

import json
from datetime import timedelta

from aiokafka import TopicPartition

from shared.kafka import clients
from shared.topics import DEAD_LETTERS, INCIDENT_EVENTS, SENSOR_ANOMALIES
from services.incident.application import handlers
from services.incident.config import IncidentSettings
from tests.factories import DETECTED, FakeClock, bearer, connection_blocked, connection_registered, eventually, uid
from tests.services.incident.helpers import (
    CAUSE, INITIAL, anomaly_body, connection_service, incident_body, known, registered, running,
)  # fmt: skip


async def read_topic(settings, base: str, *, until: int) -> list:
    """Every committed record of a topic, with a plain Kafka consumer, once there are ``until`` of them."""
    consumer = clients.consumer(
        settings, settings.topic(base),
        auto_offset_reset="earliest", isolation_level="read_committed", enable_auto_commit=False,
    )  # fmt: skip
    await consumer.start()
    records: list = []
    try:

        async def enough() -> bool:
            batches = await consumer.getmany(timeout_ms=200)
            records.extend(r for rs in batches.values() for r in rs)
            return len(records) >= until

        await eventually(enough, timeout=60, what=f"{until} records on {base}")
    finally:
        await consumer.stop()
    return records


def sensor_record(connection_id: str, signal_id: str) -> bytes:
    body = anomaly_body(connection_id, signal_id, type="abnormal_communication", severity="medium", evidence={"bytes": 1024})
    return json.dumps(body, ensure_ascii=False).encode()


async def test_events_on_the_topic_carry_the_cloudevents_envelope(settings, operator_id):
    connection_id = uid("conn")
    async with running(settings) as client:
        op = bearer(settings, "operator", operator_id)
        incident_id = (await client.post("/incidents", json=incident_body(), headers=op)).json()["id"]
        async with connection_service(settings) as connections:
            await connections.append(
                connection_id, [connection_registered(connection_id, operator_id), connection_blocked(connection_id, operator_id, incident_id)]
            )
        await client.post(f"/incidents/{incident_id}/reports/initial", json=INITIAL, headers=op)
        await client.post(f"/incidents/{incident_id}/reports/cause", json=CAUSE, headers=op)
        await eventually(lambda: client.svc.directory.blocked_for(incident_id), what="the block is known")
        assert (await client.post(f"/incidents/{incident_id}/clear", json={"summary": "解消"}, headers=op)).status_code == 200
    records = await read_topic(settings, INCIDENT_EVENTS, until=4)
    assert {r.key.decode() for r in records} == {incident_id}
    values = sorted((json.loads(r.value) for r in records), key=lambda v: v["sequence"])
    assert [v["type"] for v in values] == [
        "jp.smguard.IncidentOpened", "jp.smguard.ReportFiled", "jp.smguard.ReportFiled", "jp.smguard.IncidentCleared",
    ]  # fmt: skip
    opened = values[0]
    assert (opened["specversion"], opened["subject"], opened["sequence"], opened["operatorid"]) == ("1.0", incident_id, 1, operator_id)
    assert opened["source"] == "smguard/incident" and opened["data"]["title"] == "無線端末の紛失"
    assert values[1]["data"]["initial"]["location"] == "名古屋営業所"
    assert values[3]["data"]["connection_ids"] == [connection_id] and values[3]["data"]["operator_ids"] == [operator_id]


async def test_a_restart_restores_state_from_snapshots_and_resumes_the_read_model_where_it_stopped(settings, operator_id):
    connection_id = uid("conn")
    await registered(settings, connection_id, operator_id, kind="iot_route")
    sensor, soc = bearer(settings, "sensor"), bearer(settings, "utility_soc")
    async with running(settings) as client:
        await known(client.svc, connection_id)
        for n in range(5):
            assert (await client.post("/anomalies", json=anomaly_body(connection_id, f"s{n}"), headers=sensor)).status_code == 202
        incident_id = (await client.post("/incidents", json=incident_body(operator_id=operator_id), headers=soc)).json()["id"]
        await client.post(f"/incidents/{incident_id}/reports/initial", json=INITIAL, headers=soc)
        before = (await client.get(f"/incidents/{incident_id}", headers=soc)).json()
        listing = (await client.get("/incidents", headers=soc)).json()
        anomaly_incident = next(i["id"] for i in listing["items"] if i["origin"] == "anomaly")
        await client.get(f"/incidents/{anomaly_incident}", headers=soc)  # waits until its view holds all five
        await client.app.state.runtime.subscribers[0].wait_for_current_end()
    async with running(settings) as client:
        runtime = client.app.state.runtime
        assert runtime.store.restored_events == 0  # every owned incident came from its snapshot, none was folded
        await eventually(runtime.subscribers[0].caught_up, what="the read model is caught up")
        assert runtime.subscribers[0].applied == 0  # resumed after the last event it applied: nothing applied again
        assert (await client.get(f"/incidents/{incident_id}", headers=soc)).json() == before
        assert (await client.get("/incidents", headers=soc)).json() == listing
        anomalies = (await client.get(f"/incidents/{anomaly_incident}/anomalies", headers=soc)).json()
        assert anomalies["total"] == 5 and [a["signal_id"] for a in anomalies["items"]] == [f"s{n}" for n in range(5)]
        await known(client.svc, connection_id)
        again = (await client.post("/anomalies", json=anomaly_body(connection_id, "s3"), headers=sensor)).json()
        assert again == {"incident_id": anomaly_incident, "attached": True, "duplicate": True}
        later = (await client.post("/anomalies", json=anomaly_body(connection_id, "s5"), headers=sensor)).json()
        assert later == {"incident_id": anomaly_incident, "attached": True, "duplicate": False}
        assert (await client.get(f"/incidents/{anomaly_incident}", headers=soc)).json()["anomaly_count"] == 6


async def test_an_anomaly_too_large_to_record_decides_nothing_and_its_signal_stays_new(settings, operator_id):
    connection_id = uid("conn")
    await registered(settings, connection_id, operator_id)
    sensor = bearer(settings, "sensor")
    async with running(settings) as client:
        svc = client.svc
        await known(svc, connection_id)
        too_large = anomaly_body(connection_id, "sig-lost", evidence="x" * 2_000_000)  # past the broker's message.max.bytes
        assert (await client.post("/anomalies", json=too_large, headers=sensor)).status_code == 413
        assert not svc.store.seen("signal:sig-lost") and svc.store.find("connection", connection_id) == []
        await eventually(lambda: svc.store.ready, what="the store serves its partitions again")
        again = await client.post("/anomalies", json=anomaly_body(connection_id, "sig-lost"), headers=sensor)
        assert again.status_code == 202 and again.json()["duplicate"] is False and again.json()["attached"] is False
        assert svc.store.find("connection", connection_id) == [again.json()["incident_id"]]
    records = await read_topic(settings, INCIDENT_EVENTS, until=2)
    assert [json.loads(r.value)["type"] for r in records] == ["jp.smguard.IncidentOpened", "jp.smguard.AnomalyDetected"]


async def test_a_thousand_anomalies_on_the_sensors_topic_make_one_incident_and_none_are_lost(settings, operator_id):
    connection_id = uid("conn")
    await registered(settings, connection_id, operator_id)
    producer = clients.producer(settings, acks="all", linger_ms=5)
    async with running(settings) as client:
        svc, intake = client.svc, client.app.state.intake
        home = svc.store.partition_of(connection_id)
        misrouted = next(k for k in (uid("key") for _ in range(100)) if svc.store.partition_of(k) != home).encode()
        await producer.start()
        try:
            topic, key = settings.topic(SENSOR_ANOMALIES), connection_id.encode()
            for n in range(1000):
                await producer.send(topic, sensor_record(connection_id, f"sig-{n}"), key=key)
            for n in range(100):  # a sensor resending part of what it sent: duplicates
                await producer.send(topic, sensor_record(connection_id, f"sig-{n}"), key=key)
            await producer.send(topic, sensor_record("conn-nobody", "sig-x"), key=b"conn-nobody")
            await producer.send(topic, sensor_record(connection_id, "sig-elsewhere"), key=misrouted)
            await producer.send_and_wait(topic, b"{not json", key=b"?")
        finally:
            await producer.stop()
        await eventually(lambda: intake.decided >= 1103, timeout=60, what="every record decided")
        [incident_id] = await eventually(lambda: svc.store.find("connection", connection_id), what="the incident")
        await eventually(lambda: (svc.views.incident(incident_id) or {}).get("anomaly_count") == 1000, timeout=30, what="projected")
        view = svc.views.incident(incident_id)
        assert (view["origin"], view["connection_id"], len(view["anomalies"])) == ("anomaly", connection_id, 20)
        items, total = svc.views.anomalies(incident_id, offset=0, limit=2000)
        assert total == 1000 and {a["signal_id"] for a in items} == {f"sig-{n}" for n in range(1000)}
        snapshot = svc.store.snapshot(incident_id)  # what the next decision loads: as small as the first one
        assert snapshot.version == 1001 and len(json.dumps(snapshot.state)) < 600 and "signals" not in snapshot.state
    dead = await read_topic(settings, DEAD_LETTERS, until=3)
    reasons = sorted(dict(r.headers)["dlq.reason"].decode() for r in dead)
    assert reasons[0].startswith("keyed on partition") and f"connection {connection_id}" in reasons[0]
    assert reasons[1].startswith("not an anomaly record") and reasons[2] == "unknown connection conn-nobody"


async def test_a_signal_delivered_twice_on_the_sensors_topic_is_decided_once(settings, operator_id):
    connection_id = uid("conn")
    await registered(settings, connection_id, operator_id)
    producer = clients.producer(settings, acks="all")
    async with running(settings) as client:
        svc, intake = client.svc, client.app.state.intake
        topic, key = settings.topic(SENSOR_ANOMALIES), connection_id.encode()
        await producer.start()
        try:
            first = await producer.send_and_wait(topic, sensor_record(connection_id, "sig-1"), key=key)
            await eventually(lambda: intake.decided >= 1, what="the first delivery decided")
            await producer.send_and_wait(topic, sensor_record(connection_id, "sig-1"), key=key)
            last = await producer.send_and_wait(topic, sensor_record(connection_id, "sig-2"), key=key)
        finally:
            await producer.stop()
        await eventually(lambda: intake.decided >= 3, what="every delivery decided")
        [incident_id] = svc.store.find("connection", connection_id)
        await eventually(lambda: (svc.views.incident(incident_id) or {}).get("version") == 3, what="projected")
        items, total = svc.views.anomalies(incident_id, offset=0, limit=10)
        assert (total, [(a["signal_id"], a["attached"]) for a in items]) == (2, [("sig-1", False), ("sig-2", True)])
        consumer, tp = svc.store.ownership.consumer, TopicPartition(topic, first.partition)
        # the inbox offset commits with the decisions (visible once the transaction's markers are written)
        await eventually(lambda: _committed_offset_is(consumer, tp, last.offset + 1), what="the inbox offset committed")
    records = await read_topic(settings, INCIDENT_EVENTS, until=3)
    assert [json.loads(r.value)["data"].get("signal_id") for r in records] == [None, "sig-1", "sig-2"]


async def _committed_offset_is(consumer, tp, offset: int) -> bool:
    return await consumer.committed(tp) == offset


async def test_the_deadline_timer_records_a_missed_report_once(settings, operator_id):
    clock = FakeClock(DETECTED + timedelta(hours=1))
    options = IncidentSettings(deadline_check_seconds=0.05, initial_report_deadline_hours=2, cause_report_deadline_hours=48)
    soc = bearer(settings, "utility_soc")
    async with running(settings, options=options, clock=clock) as client:
        incident_id = (await client.post("/incidents", json=incident_body(operator_id=operator_id), headers=soc)).json()["id"]
        clock.advance(hours=2)
        svc = client.svc
        await eventually(lambda: (svc.views.incident(incident_id) or {}).get("overdue"), what="the initial report is overdue")
        assert await handlers.check_deadlines(svc) == 0
        detail = (await client.get(f"/incidents/{incident_id}", headers=soc)).json()
        assert detail["overdue"] == [{"part": "initial", "due_at": (DETECTED + timedelta(hours=2)).isoformat()}]
        assert [t["type"] for t in detail["timeline"]] == ["IncidentOpened", "ReportOverdue"]
        due = {"initial": (DETECTED + timedelta(hours=2)).isoformat(), "cause": (DETECTED + timedelta(hours=48)).isoformat()}
        assert detail["report_due"] == due
        listed = (await client.get("/incidents", params={"operator_id": operator_id}, headers=soc)).json()["items"]
        assert [(i["report_due"], i["overdue"], i["reports"]) for i in listed] == [(due, ["initial"], {"initial": 0, "cause": 0})]
