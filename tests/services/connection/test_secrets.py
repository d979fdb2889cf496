"""Connection secrets are write-only: no topic record, log line or response carries them in the clear."""

from __future__ import annotations

import json
import logging


from shared.kafka import clients
from shared.kafka.reader import assign_all, read_to_end
from tests.factories import bearer, eventually, serving, uid
from tests.services.connection.helpers import (
    PAIRING,
    PASSWORD,
    anomaly,
    app_for,
    connection_body,
    incident_writer,
    onboard,
    requests_to,
)

ROTATED_PASSWORD = "ローテーション後-pw-0xBEEF"
ROTATED_PAIRING = "PAIR-ROT-5555-9999"
PLAIN = [PASSWORD, PAIRING, ROTATED_PASSWORD, ROTATED_PAIRING]


def _forms(secret: str) -> list[bytes]:
    """The secret as UTF-8 and as it would look JSON-escaped."""
    return [secret.encode(), json.dumps(secret).strip('"').encode()]


async def _every_record(settings) -> list[bytes]:
    admin = clients.admin(settings)
    await admin.start()
    try:
        names = [t for t in await admin.list_topics() if t.startswith(settings.topic_prefix)]
    finally:
        await admin.close()
    consumer = clients.consumer(settings, isolation_level="read_uncommitted")
    await consumer.start()
    try:
        partitions = await assign_all(consumer, names)
        await consumer.seek_to_beginning(*partitions)
        raw = []
        async for records in read_to_end(consumer, partitions):
            for r in records:
                raw.append((r.key or b"") + (r.value or b"") + b"".join(v for _, v in r.headers))
        return raw
    finally:
        await consumer.stop()


async def test_plaintext_secrets_appear_in_no_record_log_line_or_response(settings, peer, caplog):
    caplog.set_level(logging.DEBUG)
    app = app_for(settings, peer)
    soc = bearer(settings, "utility_soc")
    responses: list[str] = []
    async with serving(app) as client, incident_writer(settings) as feed:
        operator = uid("op")
        staff = bearer(settings, "operator", operator)
        await onboard(client, settings, operator)
        created = await client.post("/connections", json=connection_body(), headers=staff)
        connection_id = created.json()["id"]
        responses.append(created.text)
        missing = connection_body()
        del missing["secrets"]["pairing_id"]
        wrong_kind = connection_body(kind="smart_meter")
        long_secret = connection_body()
        long_secret["secrets"]["auth_id"] = "x" * 300
        for body in (missing, wrong_kind, long_secret, {**connection_body(), "extra": PASSWORD}):
            answer = await client.post("/connections", json=body, headers=staff)
            assert answer.status_code == 422, answer.text
            responses.append(answer.text)
        rotated = await client.post(
            f"/connections/{connection_id}/secrets",
            json={"auth_id": "AUTH-ROT-00000001", "password": ROTATED_PASSWORD, "pairing_id": ROTATED_PAIRING},
            headers=staff,
        )
        responses.append(rotated.text)
        bad_rotation = await client.post(
            f"/connections/{connection_id}/secrets", json={"password": ROTATED_PASSWORD}, headers=staff
        )
        assert bad_rotation.status_code == 422
        responses.append(bad_rotation.text)
        incident = uid("inc")
        await feed.append(incident, anomaly(incident, connection_id, operator))
        await eventually(lambda: peer.received, what="an enforcement request")
        for path in (f"/connections/{connection_id}", "/connections"):
            responses.append((await client.get(path, headers=soc)).text)
        shown = (await client.get(f"/connections/{connection_id}", headers=staff)).json()["secrets"]
        assert shown == {"auth_id": "AU…01", "password": "********", "pairing_id": "PA…99"}

    records = await _every_record(settings)
    assert len(records) > 5
    logs = [repr(r.__dict__) + r.getMessage() for r in caplog.records]
    assert logs
    for secret in PLAIN:
        for form in _forms(secret):
            assert not [r for r in records if form in r], f"a topic record holds {secret!r}"
            text = form.decode()
            assert not [line for line in logs if text in line], f"a log line holds {secret!r}"
            assert not [r for r in responses if text in r], f"a response holds {secret!r}"
    assert not [r for r in requests_to(peer) if PASSWORD in json.dumps(r, ensure_ascii=False)]
