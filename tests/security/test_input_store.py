"""An event too large for the broker is refused with 422 before it is staged; a record the writer cannot send
fails only its own request — the incident service on the real broker."""

from __future__ import annotations

import asyncio

import pytest

from tests.factories import bearer, eventually, make_settings, uid
from tests.services.incident.helpers import INITIAL, incident_body, running

pytestmark = pytest.mark.integration
LONG = "発生事象の詳細。" * 1200  # 9,600 characters: within the schema, about 58 kB once encoded as an event


def long_report() -> dict:
    """An initial report within every bound of its schema, yet large as an event (Japanese text, escaped)."""
    return {"event": LONG, "location": LONG, "impacts": [{"target": "SP-1", "impact": "通信停止"}], "response_plan": LONG}


async def open_incidents(client, settings, operator_id: str, n: int) -> list[str]:
    """``n`` incidents the operator reported."""
    answers = [
        await client.post("/incidents", json=incident_body(), headers=bearer(settings, "operator", operator_id))
        for _ in range(n)
    ]
    assert all(a.status_code == 201 for a in answers), [a.text for a in answers]
    return [a.json()["id"] for a in answers]


async def revisions(client, settings, operator_id: str, incident_id: str) -> int:
    """How many initial report revisions the incident shows its operator."""
    answer = await client.get(f"/incidents/{incident_id}", headers=bearer(settings, "operator", operator_id))
    assert answer.status_code == 200, answer.text
    return len(answer.json()["reports"]["initial"])


class TestRecordLimit:
    async def test_an_event_over_the_limit_is_refused_with_422_naming_it_and_changes_nothing(
        self, kafka_bootstrap, topic_prefix, tmp_path
    ) -> None:
        settings = make_settings(kafka_bootstrap, topic_prefix, tmp_path / "data", max_event_bytes=64 * 1024)
        operator_id = uid("op")
        async with running(settings) as client:
            [incident_id] = await open_incidents(client, settings, operator_id, 1)
            path, staff = f"/incidents/{incident_id}/reports/initial", bearer(settings, "operator", operator_id)

            refused = await client.post(path, json=long_report(), headers=staff)

            assert refused.status_code == 422, refused.text
            assert "limit of 65536 bytes" in refused.json()["detail"]
            assert LONG not in refused.text
            assert await revisions(client, settings, operator_id, incident_id) == 0
            assert (await client.get("/readyz")).status_code == 200
            filed = await client.post(path, json=INITIAL, headers=staff)
            assert filed.status_code == 201 and filed.json()["revision"] == 1, filed.text


class TestRefusedRecord:
    async def test_a_record_that_cannot_be_sent_fails_only_its_own_request_and_the_store_stays_ready(
        self, kafka_bootstrap, topic_prefix, tmp_path
    ) -> None:
        # The store's limit set above what the client sends (1 MiB): the writer meets the record it cannot send.
        settings = make_settings(
            kafka_bootstrap, topic_prefix, tmp_path / "data", max_event_bytes=8 << 20, max_body_bytes=8 << 20
        )
        operator_id = uid("op")
        async with running(settings) as client:
            staff, soc = bearer(settings, "operator", operator_id), bearer(settings, "utility_soc")
            incidents = await open_incidents(client, settings, operator_id, 5)
            meters = [f"計量器-{i:05d}-{'東' * 24}" for i in range(10_000)]  # about 1.8 MB as an event

            answers = await asyncio.gather(
                client.post("/vulnerabilities", json=vulnerability(smart_meter_ids=meters), headers=soc),
                *[client.post(f"/incidents/{i}/reports/initial", json=INITIAL, headers=staff) for i in incidents],
                *[client.get("/readyz") for _ in range(5)],
            )  # fmt: skip

            refused, filed, ready = answers[0], answers[1 : len(incidents) + 1], answers[len(incidents) + 1 :]
            assert refused.status_code == 422 and "could not be written" in refused.json()["detail"], refused.text
            assert [a.status_code for a in filed] == [201] * len(incidents), [a.text for a in filed]
            assert [a.json()["revision"] for a in filed] == [1] * len(incidents)
            assert all(a.status_code == 200 for a in ready)
            for i in incidents:
                await eventually(lambda: _has_revisions(client, settings, operator_id, i), what=f"{i}'s report shown")
            assert (await client.post("/vulnerabilities", json=vulnerability(), headers=soc)).status_code == 201
            assert (await client.get("/readyz")).status_code == 200


def vulnerability(**overrides) -> dict:
    """A serious vulnerability of smart meters."""
    return {"title": "認証回避の脆弱性", "severity": "critical", "asset_kind": "smart_meter", "maker": "東海計器", "model": "TK-100", **overrides}


async def _has_revisions(client, settings, operator_id: str, incident_id: str) -> bool:
    return await revisions(client, settings, operator_id, incident_id) == 1
