"""The incident service with the real broker: the envelope on the topic, rebuilding on restart, the bulk sensor topic."""

from __future__ import annotations

import json
from datetime import timedelta

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from shared.topics import DEAD_LETTERS, INCIDENT_EVENTS, SENSOR_ANOMALIES
from services.incident.application import handlers
from services.incident.config import IncidentSettings
from tests.factories import DETECTED, FakeClock, bearer, connection_blocked, connection_registered, eventually, serving, uid
from tests.services.incident.helpers import CAUSE, INITIAL, anomaly_body, connection_service, incident_app, incident_body


async def read_topic(settings, base: str, *, until: int) -> list:
    """Every committed record of a topic, with a plain Kafka consumer, once there are ``until`` of them."""
    consumer = AIOKafkaConsumer(
        settings.topic(base), bootstrap_servers=settings.kafka_bootstrap_servers,
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


def state_of(client):
    return client._transport.app.state  # httpx's ASGI transport keeps the app it serves


async def registered(settings, connection_id: str, operator_id: str, *, kind: str = "special_meter") -> None:
    async with connection_service(settings) as connections:
        await connections.append(connection_id, [connection_registered(connection_id, operator_id, kind=kind)])


async def test_events_on_the_topic_carry_the_cloudevents_envelope(settings, operator_id):
    connection_id = uid("conn")
    async with serving(incident_app(settings)) as client:
        op = bearer(settings, "operator", operator_id)
        incident_id = (await client.post("/incidents", json=incident_body(), headers=op)).json()["id"]
        async with connection_service(settings) as connections:
            await connections.append(
                connection_id, [connection_registered(connection_id, operator_id), connection_blocked(connection_id, operator_id, incident_id)]
            )
        await client.post(f"/incidents/{incident_id}/reports/initial", json=INITIAL, headers=op)
        await client.post(f"/incidents/{incident_id}/reports/cause", json=CAUSE, headers=op)
        directory = state_of(client).service.directory
        await eventually(lambda: directory.blocked_for(incident_id), what="the block is known")
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


async def test_a_restarted_service_rebuilds_the_same_state(settings, operator_id):
    connection_id = uid("conn")
    await registered(settings, connection_id, operator_id, kind="iot_route")
    sensor, soc = bearer(settings, "sensor"), bearer(settings, "utility_soc")
    async with serving(incident_app(settings)) as client:
        await eventually(lambda: state_of(client).service.directory.connection(connection_id), what="connection known")
        for n in range(5):
            assert (await client.post("/anomalies", json=anomaly_body(connection_id, f"s{n}"), headers=sensor)).status_code == 202
        incident_id = (await client.post("/incidents", json=incident_body(operator_id=operator_id), headers=soc)).json()["id"]
        await client.post(f"/incidents/{incident_id}/reports/initial", json=INITIAL, headers=soc)
        before = (await client.get(f"/incidents/{incident_id}", headers=soc)).json()
        listing = (await client.get("/incidents", headers=soc)).json()
    async with serving(incident_app(settings)) as client:
        views = state_of(client).service.views.views
        await eventually(lambda: len(views) == 2 and views[incident_id]["version"] == 2, what="views rebuilt")
        assert (await client.get(f"/incidents/{incident_id}", headers=soc)).json() == before
        assert (await client.get("/incidents", headers=soc)).json() == listing
        await eventually(lambda: state_of(client).service.directory.connection(connection_id), what="connection known")
        again = (await client.post("/anomalies", json=anomaly_body(connection_id, "s3"), headers=sensor)).json()
        anomaly_incident = next(i["id"] for i in listing["items"] if i["origin"] == "anomaly")
        assert again == {"incident_id": anomaly_incident, "attached": True, "duplicate": True}


async def test_what_a_failed_commit_decided_is_forgotten_by_the_anomaly_index(settings, operator_id):
    connection_id = uid("conn")
    await registered(settings, connection_id, operator_id)
    sensor = bearer(settings, "sensor")
    async with serving(incident_app(settings)) as client:
        svc = state_of(client).service
        await eventually(lambda: svc.directory.connection(connection_id), what="connection known")
        too_large = anomaly_body(connection_id, "sig-lost", evidence="x" * 2_000_000)  # past the broker's message.max.bytes
        assert (await client.post("/anomalies", json=too_large, headers=sensor)).status_code == 503
        await eventually(lambda: svc.repo.store.ready, what="the store reads its topics again")
        again = await client.post("/anomalies", json=anomaly_body(connection_id, "sig-lost"), headers=sensor)
        assert again.status_code == 202 and again.json()["duplicate"] is False and again.json()["attached"] is False
        assert [e.type for e in svc.repo.store.all()] == ["IncidentOpened", "AnomalyDetected"]


async def test_a_thousand_anomalies_on_the_bulk_topic_make_one_incident_and_none_are_lost(settings, operator_id):
    connection_id = uid("conn")
    await registered(settings, connection_id, operator_id)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all", linger_ms=5)
    async with serving(incident_app(settings)) as client:
        state = state_of(client)
        await producer.start()
        try:
            topic, key = settings.topic(SENSOR_ANOMALIES), connection_id.encode()
            for n in range(1000):
                await producer.send(topic, sensor_record(connection_id, f"sig-{n}"), key=key)
            for n in range(100):  # a sensor resending part of what it sent: duplicates
                await producer.send(topic, sensor_record(connection_id, f"sig-{n}"), key=key)
            await producer.send(topic, sensor_record("conn-nobody", "sig-x"), key=b"conn-nobody")
            await producer.send_and_wait(topic, b"{not json", key=b"?")
        finally:
            await producer.stop()
        views = state.service.views.views
        await eventually(lambda: state.intake.decided >= 1102, timeout=60, what="every record decided")
        await eventually(lambda: sum(v["anomaly_count"] for v in views.values()) >= 1000, timeout=30, what="projected")
        [view] = views.values()
        assert (view["origin"], view["connection_id"], view["anomaly_count"]) == ("anomaly", connection_id, 1000)
        assert {a["signal_id"] for a in view["anomalies"]} == {f"sig-{n}" for n in range(1000)}
        assert len(list(state.service.repo.store.all())) == 1001
    dead = await read_topic(settings, DEAD_LETTERS, until=2)
    reasons = sorted(dict(r.headers)["dlq.reason"].decode() for r in dead)
    assert reasons[0].startswith("not an anomaly record") and reasons[1] == "unknown connection conn-nobody"


async def test_the_deadline_timer_records_a_missed_report_once(settings, operator_id):
    clock = FakeClock(DETECTED + timedelta(hours=1))
    options = IncidentSettings(deadline_check_seconds=0.05, initial_report_deadline_hours=2, cause_report_deadline_hours=48)
    soc = bearer(settings, "utility_soc")
    async with serving(incident_app(settings, options=options, clock=clock)) as client:
        incident_id = (await client.post("/incidents", json=incident_body(operator_id=operator_id), headers=soc)).json()["id"]
        clock.advance(hours=2)
        svc = state_of(client).service
        await eventually(lambda: svc.views.views.get(incident_id, {}).get("overdue"), what="the initial report is overdue")
        assert await handlers.check_deadlines(svc) == 0
        detail = (await client.get(f"/incidents/{incident_id}", headers=soc)).json()
        assert detail["overdue"] == [{"part": "initial", "due_at": (DETECTED + timedelta(hours=2)).isoformat()}]
        assert [t["type"] for t in detail["timeline"]] == ["IncidentOpened", "ReportOverdue"]
