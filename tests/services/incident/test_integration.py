"""The incident service with the real broker: the envelope on the topic, rebuilding on restart, the bulk sensor topic."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from tests.factories import bearer, eventually, serving

from tests.services.incident.helpers import CAUSE, DETECTED, INITIAL, blocked, incident_body, publish_connection_events, registered, uid
from services.incident.bootstrap import build_app
from services.incident.config import IncidentSettings
from shared.topics import DEAD_LETTERS, INCIDENT_EVENTS, SENSOR_ANOMALIES


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


def clock() -> datetime:
    """A fixed clock shortly after detection: no report deadline passes during these tests."""
    return DETECTED + timedelta(hours=1)


def sensor_record(connection_id: str, signal_id: str) -> bytes:
    return json.dumps(
        {"signal_id": signal_id, "connection_id": connection_id, "type": "abnormal_communication",
         "severity": "medium", "observed_at": DETECTED.isoformat(), "evidence": {"bytes": 1024}},
        ensure_ascii=False,
    ).encode()  # fmt: skip


async def test_events_on_the_topic_carry_the_cloudevents_envelope(settings, operator_id):
    connection_id = uid("conn")
    async with serving(build_app(settings, clock=clock)) as client:
        op = bearer(settings, "operator", operator_id)
        incident_id = (await client.post("/incidents", json=incident_body(), headers=op)).json()["id"]
        await publish_connection_events(settings, [registered(connection_id, operator_id), blocked(connection_id, operator_id, incident_id)])
        await client.post(f"/incidents/{incident_id}/reports/initial", json=INITIAL, headers=op)
        await client.post(f"/incidents/{incident_id}/reports/cause", json=CAUSE, headers=op)
        await eventually(lambda: _blocked_known(client, incident_id), what="the block is known")
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


def _blocked_known(client, incident_id) -> bool:
    return bool(_app_of(client).state.incident.directory.blocked_for(incident_id))


def _app_of(client):
    return client._transport.app  # httpx's ASGI transport keeps the app it serves


async def test_a_restarted_service_rebuilds_the_same_state(settings, operator_id):
    connection_id = uid("conn")
    await publish_connection_events(settings, [registered(connection_id, operator_id, "iot_route")])
    sensor, soc = bearer(settings, "sensor"), bearer(settings, "utility_soc")
    async with serving(build_app(settings, clock=clock)) as client:
        await eventually(lambda: _app_of(client).state.incident.directory.connection(connection_id), what="connection known")
        for n in range(5):
            body = {"signal_id": f"s{n}", "connection_id": connection_id, "type": "unauthorized_access",
                    "severity": "high", "observed_at": DETECTED.isoformat()}  # fmt: skip
            assert (await client.post("/anomalies", json=body, headers=sensor)).status_code == 202
        incident_id = (await client.post("/incidents", json=incident_body(operator_id=operator_id), headers=soc)).json()["id"]
        await client.post(f"/incidents/{incident_id}/reports/initial", json=INITIAL, headers=soc)
        before = (await client.get(f"/incidents/{incident_id}", headers=soc)).json()
        listing = (await client.get("/incidents", headers=soc)).json()
    async with serving(build_app(settings, clock=clock)) as client:
        views = _app_of(client).state.incident.views.views
        await eventually(lambda: len(views) == 2 and views[incident_id]["version"] == 2, what="views rebuilt")
        assert (await client.get(f"/incidents/{incident_id}", headers=soc)).json() == before
        assert (await client.get("/incidents", headers=soc)).json() == listing
        await eventually(lambda: _app_of(client).state.incident.directory.connection(connection_id), what="connection known")
        body = {"signal_id": "s3", "connection_id": connection_id, "type": "unauthorized_access",
                "severity": "high", "observed_at": DETECTED.isoformat()}  # fmt: skip
        again = (await client.post("/anomalies", json=body, headers=sensor)).json()
        anomaly_incident = next(i["id"] for i in listing["items"] if i["origin"] == "anomaly")
        assert again == {"incident_id": anomaly_incident, "attached": True, "duplicate": True}


async def test_a_thousand_anomalies_on_the_bulk_topic_make_one_incident_and_none_are_lost(settings, operator_id):
    connection_id = uid("conn")
    await publish_connection_events(settings, [registered(connection_id, operator_id)])
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all", linger_ms=5)
    async with serving(build_app(settings, clock=clock)) as client:
        app = _app_of(client)
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
        views = app.state.incident.views.views
        await eventually(lambda: app.state.intake.decided >= 1102, timeout=60, what="every record decided")
        await eventually(lambda: sum(v["anomaly_count"] for v in views.values()) >= 1000, timeout=30, what="projected")
        [view] = views.values()
        assert (view["origin"], view["connection_id"], view["anomaly_count"]) == ("anomaly", connection_id, 1000)
        assert {a["signal_id"] for a in view["anomalies"]} == {f"sig-{n}" for n in range(1000)}
        assert len(list(app.state.incident.repo.store.all())) == 1001
    dead = await read_topic(settings, DEAD_LETTERS, until=2)
    reasons = sorted(dict(r.headers)["dlq.reason"].decode() for r in dead)
    assert reasons[0].startswith("not an anomaly record") and reasons[1] == "unknown connection conn-nobody"


async def test_the_deadline_timer_records_a_missed_report_once(settings, operator_id):
    now = {"at": DETECTED + timedelta(hours=1)}
    options = IncidentSettings(deadline_check_seconds=0.05, initial_report_deadline_hours=2, cause_report_deadline_hours=48)
    soc = bearer(settings, "utility_soc")
    async with serving(build_app(settings, options=options, clock=lambda: now["at"])) as client:
        incident_id = (await client.post("/incidents", json=incident_body(operator_id=operator_id), headers=soc)).json()["id"]
        now["at"] = DETECTED + timedelta(hours=3)
        views = _app_of(client).state.incident.views.views
        await eventually(lambda: views.get(incident_id, {}).get("overdue"), what="the initial report is overdue")
        await _app_of(client).state.deadlines.tick()
        detail = (await client.get(f"/incidents/{incident_id}", headers=soc)).json()
        assert detail["overdue"] == [{"part": "initial", "due_at": (DETECTED + timedelta(hours=2)).isoformat()}]
        assert [t["type"] for t in detail["timeline"]] == ["IncidentOpened", "ReportOverdue"]
