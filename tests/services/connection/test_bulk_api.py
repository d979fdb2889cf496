"""``POST /connections/bulk`` on the real broker: mixed rows, CSV, tenancy, bounds, retries, secrets write-only."""

from __future__ import annotations

import json
import logging

from shared.kafka import clients
from shared.kafka.reader import assign_all, read_to_end
from shared.topics import CONNECTION_EVENTS, CONNECTION_STATE
from tests.factories import bearer, make_settings, serving, uid
from tests.services.connection.helpers import PAIRING, PASSWORD, app_for, connection_body, onboard

HEADER = "kind,maker,model,firmware,smart_meter_ids,auth_id,password,pairing_id,operator_id"


async def listed(client, settings, operator_id: str) -> list[dict]:
    """The connections of an operator as the SOC lists them."""
    answer = await client.get("/connections", params={"operator_id": operator_id, "limit": 500}, headers=bearer(settings, "utility_soc"))
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


async def raw_records(settings, *bases: str) -> bytes:
    """Every record (key, value, headers) of some of the service's topics, committed or not, as one blob."""
    consumer = clients.consumer(settings, isolation_level="read_uncommitted")
    await consumer.start()
    try:
        partitions = await assign_all(consumer, [settings.topic(base) for base in bases])
        await consumer.seek_to_beginning(*partitions)
        blob = b""
        async for records in read_to_end(consumer, partitions):
            for r in records:
                blob += (r.key or b"") + (r.value or b"") + b"".join(v for _, v in r.headers)
        return blob
    finally:
        await consumer.stop()


def csv_row(operator_id: str = "", *, kind: str = "special_meter", maker: str = "東海計器", password: str = PASSWORD) -> str:
    return f"{kind},{maker},TK-100,2.1.0,{uid('sm')};{uid('sm')},AUTH-{uid('a')},{password},{PAIRING},{operator_id}"


class TestMixedRows:
    async def test_valid_rows_are_registered_invalid_ones_not_each_says_why_and_secrets_stay_write_only(self, settings, caplog):
        async with serving(app_for(settings)) as client:
            operator = uid("op")
            await onboard(client, settings, operator)
            staff = bearer(settings, "operator", operator)
            caplog.set_level(logging.DEBUG)  # every log line from here on: the secrets travel from here on
            rows = [
                connection_body(), connection_body(maker=""), connection_body(kind="hes"),
                connection_body(smart_meter_ids=["SM-A", "SM-B"]), connection_body(secrets={"password": PASSWORD}),
                connection_body(kind="wireless_terminal"),
            ]  # fmt: skip
            answer = await client.post("/connections/bulk", json=rows, headers=staff)
            assert answer.status_code == 207, answer.text
            body = answer.json()
            assert (body["registered"], body["refused"]) == (3, 3)
            assert [r["row"] for r in body["rows"]] == [1, 2, 3, 4, 5, 6]
            ids = [r["id"] for r in body["rows"] if "id" in r]
            assert [r["row"] for r in body["rows"] if "id" in r] == [1, 4, 6] and len(set(ids)) == 3
            errors = {r["row"]: r["errors"] for r in body["rows"] if "errors" in r}
            assert errors[2][0]["loc"] == ["maker"]
            assert "part 4" in errors[3][0]["msg"]  # the domain's rule: a utility-side kind is not a connection
            assert {tuple(e["loc"]) for e in errors[5]} == {("secrets", "auth_id"), ("secrets", "pairing_id")}

            assert sorted(c["id"] for c in await listed(client, settings, operator)) == sorted(ids)  # read at once
            shown = (await client.get(f"/connections/{ids[1]}", headers=staff)).json()
            assert shown["smart_meter_ids"] == ["SM-A", "SM-B"] and shown["status"] == "active"
            assert shown["secrets"] == {"auth_id": "…78", "password": "********", "pairing_id": "…42"}
            page = (await client.get("/connections", headers=staff)).text
        for secret in (PASSWORD, PAIRING, json.dumps(PASSWORD).strip('"')):
            assert secret not in answer.text and secret not in page
            assert secret not in caplog.text
        records = await raw_records(settings, CONNECTION_EVENTS, CONNECTION_STATE)
        assert b"ConnectionRegistered" in records
        assert PASSWORD.encode() not in records and PAIRING.encode() not in records

    async def test_the_soc_uploads_csv_for_several_operators_each_row_naming_its_own(self, settings):
        async with serving(app_for(settings)) as client:
            first, second, stranger = uid("op"), uid("op"), uid("op")
            for operator in (first, second):
                await onboard(client, settings, operator)
            csv = "\r\n".join([HEADER, csv_row(first), csv_row(second), csv_row(""), csv_row(stranger), csv_row(first)]) + "\r\n"
            soc = {**bearer(settings, "utility_soc"), "Content-Type": "text/csv; charset=utf-8"}
            answer = await client.post("/connections/bulk", content=csv.encode(), headers=soc)
            assert answer.status_code == 207, answer.text
            rows = answer.json()["rows"]
            assert [("id" in r) for r in rows] == [True, True, False, False, True]
            assert "operator_id is required" in rows[2]["errors"][0]["msg"]
            assert "not onboarded" in rows[3]["errors"][0]["msg"]
            assert sorted(c["id"] for c in await listed(client, settings, first)) == sorted([rows[0]["id"], rows[4]["id"]])
            own = (await client.get("/connections", headers=bearer(settings, "operator", second))).json()["items"]
            assert [c["id"] for c in own] == [rows[1]["id"]]

    async def test_every_row_registered_is_a_200(self, settings):
        async with serving(app_for(settings)) as client:
            operator = uid("op")
            await onboard(client, settings, operator)
            rows = [connection_body(operator_id=operator) for _ in range(120)]
            answer = await client.post("/connections/bulk", json=rows, headers=bearer(settings, "utility_soc"))
            assert answer.status_code == 200, answer.text
            assert answer.json()["registered"] == 120 and answer.json()["refused"] == 0
            assert len(await listed(client, settings, operator)) == 120


class TestTenancy:
    async def test_an_operator_cannot_bulk_register_for_another_and_then_nothing_is_registered(self, settings):
        async with serving(app_for(settings)) as client:
            mine, other = uid("op"), uid("op")
            for operator in (mine, other):
                await onboard(client, settings, operator)
            staff = bearer(settings, "operator", mine)
            rows = [connection_body(), connection_body(operator_id=mine), connection_body(operator_id=other, maker="")]
            answer = await client.post("/connections/bulk", json=rows, headers=staff)
            assert answer.status_code == 403 and "rows 3" in answer.json()["detail"]
            csv = "\r\n".join([HEADER, csv_row(mine), csv_row(other)])
            as_csv = await client.post("/connections/bulk", content=csv.encode(), headers={**staff, "Content-Type": "text/csv"})
            assert as_csv.status_code == 403
            assert await listed(client, settings, mine) == [] and await listed(client, settings, other) == []
            for role in ("sensor", "auditor", "utility_desk"):
                assert (await client.post("/connections/bulk", json=rows[:1], headers=bearer(settings, role))).status_code == 403
            assert (await client.post("/connections/bulk", json=rows[:1])).status_code == 401


class TestBounds:
    async def test_too_many_rows_or_bytes_or_an_unreadable_body_registers_nothing_and_says_why(self, tmp_path, kafka_bootstrap, topic_prefix):
        settings = make_settings(kafka_bootstrap, topic_prefix, tmp_path / "data", max_body_bytes=4096)
        async with serving(app_for(settings, max_bulk_rows=5, max_bulk_body_bytes=16 * 1024)) as client:
            operator = uid("op")
            await onboard(client, settings, operator)
            staff = bearer(settings, "operator", operator)
            rows = [connection_body() for _ in range(6)]
            too_many = await client.post("/connections/bulk", json=rows, headers=staff)
            assert too_many.status_code == 413 and too_many.json()["code"] == "too_many_rows"
            padded = [connection_body(model="X" * 200, firmware="F" * 200, smart_meter_ids=[uid("sm") for _ in range(20)])
                      for _ in range(5)]  # fmt: skip
            assert 4096 < len(json.dumps(padded)) < 16 * 1024
            accepted = await client.post("/connections/bulk", json=padded, headers=staff)
            assert accepted.status_code == 200, accepted.text  # over the other routes' cap, within its own
            one = connection_body(smart_meter_ids=[uid("sm") for _ in range(250)])
            assert len(json.dumps(one)) > 4096
            assert (await client.post("/connections", json=one, headers=staff)).status_code == 413
            huge = [connection_body(smart_meter_ids=[uid("sm") for _ in range(300)]) for _ in range(5)]
            too_large = await client.post("/connections/bulk", json=huge, headers=staff)
            assert too_large.status_code == 413 and too_large.json()["code"] == "payload_too_large"
            text = await client.post("/connections/bulk", content=b"kind\nx", headers={**staff, "Content-Type": "text/plain"})
            assert text.status_code == 415
            not_array = await client.post("/connections/bulk", json=connection_body(), headers=staff)
            assert not_array.status_code == 422
            bad_csv = await client.post("/connections/bulk", content=b"kind,colour\nx,y\n", headers={**staff, "Content-Type": "text/csv"})
            assert bad_csv.status_code == 422 and "colour" in bad_csv.json()["detail"]
            assert len(await listed(client, settings, operator)) == 5  # the accepted request's rows only


class TestRetry:
    async def test_a_retry_with_the_same_idempotency_key_answers_the_same_rows_and_registers_nothing_twice(self, settings):
        async with serving(app_for(settings)) as client:
            operator = uid("op")
            await onboard(client, settings, operator)
            headers = {**bearer(settings, "operator", operator), "Idempotency-Key": uid("bulk")}
            rows = [connection_body(), connection_body(maker=""), connection_body(), connection_body()]
            first = await client.post("/connections/bulk", json=rows, headers=headers)
            again = await client.post("/connections/bulk", json=rows, headers=headers)
            assert first.status_code == again.status_code == 207
            assert first.json() == again.json()
            assert len(await listed(client, settings, operator)) == 3
            fixed = [rows[0], connection_body(), rows[2], rows[3]]  # the refused row corrected, sent again
            third = await client.post("/connections/bulk", json=fixed, headers=headers)
            assert third.status_code == 200
            before = {r["row"]: r.get("id") for r in first.json()["rows"]}
            after = {r["row"]: r["id"] for r in third.json()["rows"]}
            assert [after[n] for n in (1, 3, 4)] == [before[n] for n in (1, 3, 4)] and before[2] is None
            assert len(await listed(client, settings, operator)) == 4
            other_key = await client.post("/connections/bulk", json=rows[:1], headers={**headers, "Idempotency-Key": uid("k")})
            assert other_key.status_code == 200 and len(await listed(client, settings, operator)) == 5
