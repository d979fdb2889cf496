"""Connection secrets are write-only: no topic record, log line or response carries them in the clear; they are
sealed under a key ring whose newest key re-seals every connection while the service answers."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from cryptography.fernet import Fernet

from services.connection.adapters.sealer import FernetSealer, KeyRing
from shared import topics
from shared.envelope import decode
from shared.events.connection import SecretsResealed
from shared.kafka import clients
from shared.kafka.reader import assign_all, read_to_end
from shared.keyring import CONNECTION_KEYS, KeyFolder
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


async def _resealed(settings) -> list[SecretsResealed]:
    """The SecretsResealed events committed on the connection events topic."""
    consumer = clients.consumer(settings, isolation_level="read_committed")
    await consumer.start()
    try:
        partitions = await assign_all(consumer, [settings.topic(topics.CONNECTION_EVENTS)])
        await consumer.seek_to_beginning(*partitions)
        found = []
        async for records in read_to_end(consumer, partitions):
            events = [decode(r.value, key=r.key).event for r in records]
            found += [e for e in events if isinstance(e, SecretsResealed)]
        return found
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
        assert shown == {"auth_id": "…01", "password": "********", "pairing_id": "…99"}  # the last two at most

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


async def _sealed_with(client, settings) -> dict[str, int]:
    answer = await client.get("/secrets/keys", headers=bearer(settings, "utility_soc"))
    assert answer.status_code == 200, answer.text
    return answer.json()


class TestKeyRotation:
    async def test_a_new_key_reseals_every_connection_while_the_service_keeps_answering(self, settings, peer):
        app = app_for(settings, peer)
        soc = bearer(settings, "utility_soc")
        async with serving(app) as client:
            operator = uid("op")
            staff = bearer(settings, "operator", operator)
            await onboard(client, settings, operator)
            ids = [(await client.post("/connections", json=connection_body(), headers=staff)).json()["id"] for _ in range(3)]
            first = await _sealed_with(client, settings)
            old = first["sealing_key"]
            assert first["keys"] == {old: 3}

            new = KeyFolder(settings.data_dir / CONNECTION_KEYS).add(Fernet.generate_key)
            later = await client.post("/connections", json=connection_body(), headers=staff)  # sealed with the new key at once
            resealing = asyncio.create_task(client.post("/secrets/reseal", headers=soc))
            meanwhile = await client.get(f"/connections/{ids[0]}", headers=staff)
            done = await resealing

            assert later.status_code == 201 and meanwhile.status_code == 200
            assert done.status_code == 200, done.text
            assert done.json()["sealing_key"] == new and done.json()["resealed"] == 3 and done.json()["failed"] == []
            assert (await _sealed_with(client, settings))["keys"] == {new: 4, old: 0}
            shown = (await client.get(f"/connections/{ids[0]}", headers=staff)).json()["secrets"]
            assert shown == {"auth_id": "…78", "password": "********", "pairing_id": "…42"}
            again = await client.post("/secrets/reseal", headers=soc)
            assert again.json()["resealed"] == 0

            forbidden = await client.post("/secrets/reseal", headers=staff)
            assert forbidden.status_code == 403

        resealed = await _resealed(settings)
        assert sorted(e.connection_id for e in resealed) == sorted(ids)
        assert {e.previous_key_id for e in resealed} == {old} and {e.secrets.key_id for e in resealed} == {new}
        keys = settings.data_dir / CONNECTION_KEYS
        only_new = FernetSealer(KeyRing(keys=[(new, (keys / f"{new}.key").read_bytes())]))
        assert only_new.reseal(resealed[0].secrets).key_id == new  # the new key alone opens them
        only_old = FernetSealer(KeyRing(keys=[(old, (keys / f"{old}.key").read_bytes())]))
        with pytest.raises(KeyError):
            only_old.reseal(resealed[0].secrets)
