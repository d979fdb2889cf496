"""Part-5 routes on the real broker with a fake clock: 201, 401, 403 (role), 404 (other tenant), 409, 422."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import httpx

from services.connection.bootstrap import build_app
from shared.config import Settings
from tests.factories import bearer, serving, uid
from tests.services.connection.helpers import own_settings

NOW = datetime(2025, 6, 15, 3, 0, tzinfo=timezone.utc)  # 12:00 JST, 15 June 2025

ASSESSMENT = {
    "date": "2025-06-01", "scope": "特例計量器・無線端末・外部サーバ", "method": "脆弱性診断（外部委託）",
    "findings_summary": "中程度の指摘2件", "remediation_status": "対策中（7月完了予定）",
}
CONTROLS = {
    "date": "2025-06-10", "controls": ["HSMでの鍵保管", "最小権限のアクセス制御", "台帳の暗号化"], "attested_by": "情報セキュリティ責任者 佐藤",
    "coverage": {"password": ["HSMでの鍵保管"], "pairing_id": ["HSMでの鍵保管"], "auth_id": ["最小権限のアクセス制御"], "special_meter_id": ["台帳の暗号化"]},
}


def app(settings: Settings):  # type: ignore[no-untyped-def]
    return build_app(settings, own_settings(None), clock=lambda: NOW)


async def onboarded(client: httpx.AsyncClient, settings: Settings, agreement_date: str = "2024-05-01") -> str:
    operator = uid("op")
    body = {"operator_id": operator, "name": f"{operator} 株式会社", "agreement_date": agreement_date}
    assert (await client.post("/operators", json=body, headers=bearer(settings, "utility_soc"))).status_code == 201
    return operator


async def post(client: httpx.AsyncClient, path: str, body: dict[str, Any], headers: dict[str, str]) -> httpx.Response:
    return await client.post(path, json=body, headers=headers)


class TestRecords:
    async def test_only_that_operator_records_its_duties(self, settings):
        async with serving(app(settings)) as client:
            mine, other = await onboarded(client, settings), await onboarded(client, settings)
            path = f"/operators/{mine}/risk-assessments"
            assert (await post(client, path, ASSESSMENT, {})).status_code == 401
            assert (await post(client, path, ASSESSMENT, bearer(settings, "utility_soc"))).status_code == 403
            assert (await post(client, path, ASSESSMENT, bearer(settings, "utility_desk"))).status_code == 403
            assert (await post(client, path, ASSESSMENT, bearer(settings, "operator", other))).status_code == 404
            created = await post(client, path, ASSESSMENT, bearer(settings, "operator", mine))
            assert created.status_code == 201 and created.json()["id"]
            training = {"date": "2025-06-02", "kind": "incident_drill", "participants": 8}
            assert (await post(client, f"/operators/{mine}/trainings", training, bearer(settings, "operator", other))).status_code == 404
            assert (await post(client, f"/operators/{mine}/trainings", training, bearer(settings, "operator", mine))).status_code == 201

    async def test_bad_records_are_a_422_and_write_nothing(self, settings):
        async with serving(app(settings)) as client:
            mine = await onboarded(client, settings)
            staff = bearer(settings, "operator", mine)
            future = await post(client, f"/operators/{mine}/risk-assessments", {**ASSESSMENT, "date": "2025-06-16"}, staff)
            assert future.status_code == 422 and "future" in future.json()["detail"]
            bad = [
                ("trainings", {"date": "2025-06-01", "kind": "fire_drill", "participants": 3}),
                ("trainings", {"date": "2025-06-01", "kind": "education", "participants": 0}),
                ("trainings", {"date": "2025-06-16", "kind": "education", "participants": 3}),
                ("risk-assessments", {**ASSESSMENT, "scope": ""}),
                ("risk-assessments", {**ASSESSMENT, "extra": "x"}),
                ("leakage-controls", {**CONTROLS, "coverage": {"pin_code": ["HSMでの鍵保管"]}}),
                ("leakage-controls", {**CONTROLS, "coverage": {"password": ["紙の台帳"]}}),
                ("leakage-controls", {**CONTROLS, "controls": []}),
            ]
            for route, body in bad:
                assert (await post(client, f"/operators/{mine}/{route}", body, staff)).status_code == 422, (route, body)
            view = (await client.get(f"/operators/{mine}/compliance", headers=staff)).json()
            assert view["last_assessment"] is None and view["leakage_controls"] is None
            assert view["last_trainings"] == {"education": None, "incident_drill": None}

    async def test_an_operator_not_onboarded_is_not_found(self, settings):
        async with serving(app(settings)) as client:
            ghost = uid("op")
            answer = await post(client, f"/operators/{ghost}/trainings", {"date": "2025-06-01", "kind": "education", "participants": 3}, bearer(settings, "operator", ghost))
            assert answer.status_code == 404

    async def test_the_attestation_in_force_says_which_controls_protect_what(self, settings):
        async with serving(app(settings)) as client:
            mine = await onboarded(client, settings)
            answer = await post(client, f"/operators/{mine}/leakage-controls", CONTROLS, bearer(settings, "operator", mine))
            assert answer.status_code == 201
            assert answer.json()["in_force"]["uncovered"] == []
            assert answer.json()["in_force"]["coverage"]["password"] == ["HSMでの鍵保管"]


    async def test_a_record_for_an_operator_that_moved_on_is_a_409_with_its_version(self, settings):
        async with serving(app(settings)) as client:
            mine = await onboarded(client, settings)
            staff = bearer(settings, "operator", mine)
            stale = await post(client, f"/operators/{mine}/risk-assessments", ASSESSMENT, {**staff, "If-Match": "0"})
            assert stale.status_code == 409 and stale.json()["current_version"] == 1
            fresh = await post(client, f"/operators/{mine}/risk-assessments", ASSESSMENT, {**staff, "If-Match": "1"})
            assert fresh.status_code == 201 and fresh.json()["version"] == 2


class TestStatusRequests:
    async def test_the_soc_asks_and_that_operator_answers_once(self, settings):
        async with serving(app(settings)) as client:
            mine, other = await onboarded(client, settings), await onboarded(client, settings)
            ask = {"subject": "年次の運用状況をご提示ください", "reply_by": "2025-06-30"}
            path = f"/operators/{mine}/status-requests"
            assert (await post(client, path, ask, {})).status_code == 401
            assert (await post(client, path, ask, bearer(settings, "utility_desk"))).status_code == 403
            assert (await post(client, path, ask, bearer(settings, "operator", mine))).status_code == 403
            assert (await post(client, path, {**ask, "reply_by": "2025-06-14"}, bearer(settings, "utility_soc"))).status_code == 422
            assert (await post(client, f"/operators/{uid('op')}/status-requests", ask, bearer(settings, "utility_soc"))).status_code == 404
            asked = await post(client, path, ask, bearer(settings, "utility_soc"))
            assert asked.status_code == 201
            request_id = asked.json()["request_id"]
            assert asked.json()["id"] == request_id
            await post(client, f"/operators/{mine}/risk-assessments", ASSESSMENT, bearer(settings, "operator", mine))
            answer = {"request_id": request_id, "summary": "リスク評価を実施済み。訓練は7月予定。"}
            reports = f"/operators/{mine}/status-reports"
            assert (await post(client, reports, answer, bearer(settings, "operator", other))).status_code == 404
            assert (await post(client, reports, answer, bearer(settings, "utility_soc"))).status_code == 403
            assert (await post(client, reports, {**answer, "request_id": "unknown"}, bearer(settings, "operator", mine))).status_code == 404
            assert (await post(client, reports, {"request_id": request_id}, bearer(settings, "operator", mine))).status_code == 422
            reported = await post(client, reports, answer, bearer(settings, "operator", mine))
            assert reported.status_code == 201
            records = reported.json()["records"]
            assert records["last_assessment"]["scope"] == ASSESSMENT["scope"]
            assert {i["item"] for i in records["overdue"]} == {"training:education", "training:incident_drill"}
            assert (await post(client, reports, answer, bearer(settings, "operator", mine))).status_code == 409


class TestComplianceView:
    async def test_utility_roles_auditors_and_that_operator_see_the_status(self, settings):
        async with serving(app(settings)) as client:
            mine, other = await onboarded(client, settings), await onboarded(client, settings)
            staff = bearer(settings, "operator", mine)
            await post(client, f"/operators/{mine}/risk-assessments", ASSESSMENT, staff)
            await post(client, f"/operators/{mine}/trainings", {"date": "2024-07-01", "kind": "education", "participants": 40}, staff)
            await post(client, f"/operators/{mine}/leakage-controls", CONTROLS, staff)
            await post(client, f"/operators/{mine}/status-requests", {"subject": "提示依頼", "reply_by": "2025-07-01"}, bearer(settings, "utility_soc"))
            path = f"/operators/{mine}/compliance"
            assert (await client.get(path)).status_code == 401
            assert (await client.get(path, headers=bearer(settings, "sensor"))).status_code == 403
            assert (await client.get(path, headers=bearer(settings, "operator", other))).status_code == 404
            assert (await client.get(f"/operators/{uid('op')}/compliance", headers=bearer(settings, "auditor"))).status_code == 404
            for headers in (staff, bearer(settings, "utility_soc"), bearer(settings, "utility_desk"), bearer(settings, "auditor")):
                assert (await client.get(path, headers=headers)).status_code == 200
            view = (await client.get(path, headers=staff)).json()
            assert view["last_assessment"]["date"] == "2025-06-01"
            assert view["duties"]["risk_assessment"]["due_date"] == "2026-06-01"
            assert [i["item"] for i in view["overdue"]] == ["training:incident_drill"]
            upcoming = {i["item"].split(":")[0]: (i["due_date"], i["days_left"]) for i in view["upcoming"]}
            assert upcoming == {"training": ("2025-07-01", 16), "status_request": ("2025-07-01", 16)}
            assert [(r["subject"], r["overdue"]) for r in view["open_requests"]] == [("提示依頼", False)]
            assert view["leakage_controls"]["attested_by"] == CONTROLS["attested_by"]
