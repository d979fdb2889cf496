"""The connections pages and the operator portal in a real browser against the whole running system: an operator
registers a connection, keeps its contact and compliance records and registers meters from a CSV file; the SOC
blocks that connection after a confirmation and sees who still has to approve; another operator sees none of it;
no secret typed into a form ever comes back in a page."""

from __future__ import annotations

import re
import time
from datetime import date, datetime, timedelta, timezone
from uuid import uuid4

import httpx
import pytest

from shared.auth import mint_token
from shared.config import Settings
from tests.console.conftest import open_until, screenshot
from tests.factories import TEST_SECRET

pytestmark = pytest.mark.integration
PASSWORD = f"pw-{uuid4().hex}-秘密"


def bearer(role: str, operator_id: str | None = None) -> dict[str, str]:
    token = mint_token(Settings(jwt_secret=TEST_SECRET), role=role, operator_id=operator_id)
    return {"Authorization": f"Bearer {token}"}


def onboarded(system, name: str = "東海スマートエナジー") -> str:
    """A new operator, onboarded by the SOC through the connection service's API."""
    operator_id = f"op-{uuid4().hex[:6]}"
    answer = httpx.post(f"{system.url('connection')}/operators", headers=bearer("utility_soc"),
                        json={"operator_id": operator_id, "name": name, "agreement_date": date.today().isoformat()})  # fmt: skip
    assert answer.status_code == 201, answer.text
    return operator_id


def reported(system, operator_id: str) -> str:
    """An incident the operator reported (through the incident service's API): it owes both reports."""
    body = {"category": "credential_leak", "severity": "high", "title": "認証情報の漏洩の疑い",
            "description": "無線端末の認証情報が漏洩した可能性があります。",
            "affected_assets": [{"kind": "wireless_terminal", "id": "WT-001"}],
            "detected_at": (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat()}  # fmt: skip
    answer = httpx.post(f"{system.url('incident')}/incidents", headers=bearer("operator", operator_id), json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


def cleared(system, incident_id: str) -> None:
    """The SOC files the cause report and clears the incident (through the incident service's API)."""
    url, soc = f"{system.url('incident')}/incidents/{incident_id}", bearer("utility_soc")
    cause = {"cause": "設定の誤り", "countermeasure": "認証情報を更新", "countermeasure_plan": "全端末で実施",
             "recurrence_prevention": "手順書を改訂"}  # fmt: skip
    assert httpx.post(f"{url}/reports/cause", headers=soc, json=cause).status_code == 201
    answer = httpx.post(f"{url}/clear", headers=soc, json={"summary": "解消しました"})
    assert answer.status_code == 200, answer.text


def awaiting_approval(system, connection_id: str, operator_id: str, *, within: float = 30.0) -> None:
    """Poll (with a deadline) until the connection service has seen the clearing: the connection awaits approval."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = httpx.get(f"{system.url('connection')}/connections/{connection_id}", headers=bearer("operator", operator_id))
        if found.json()["status"] == "awaiting_approval":
            return
        time.sleep(0.1)  # the poll's interval, as tests.factories.eventually's
    pytest.fail(f"connection {connection_id} still {found.json()['status']} after the clearing")


def no_secret_in(page) -> None:
    assert PASSWORD not in page.content()


def test_an_operator_keeps_its_connections_contacts_and_records_in_the_portal(signed_in, console_system) -> None:
    operator_id, other = onboarded(console_system), onboarded(console_system, "別の事業者")
    reported(console_system, operator_id)
    page = signed_in("operator", operator_id)
    assert page.get_by_role("heading", name=re.compile("事業者ポータル")).is_visible()

    page.goto("/connections/new")
    page.select_option("#kind", "wireless_terminal")
    page.fill("#maker", "東海計器")
    page.fill("#model", "WT-200")
    page.fill("#firmware", "3.0.1")
    page.fill("#smart_meter_ids", "SM-001\nSM-002")
    page.fill("#auth_id", "AUTH-ID-777")
    page.fill("#password", PASSWORD)
    page.fill("#pairing_id", "PAIR-4242")
    page.get_by_role("button", name="登録する").click()
    page.wait_for_url(re.compile(r"/connections/conn-[^/?]+\?notice="))
    connection_id = page.url.split("/connections/")[1].split("?")[0]
    assert page.get_by_text("接続を登録しました").is_visible()
    assert page.locator("h1 .status-active").is_visible()
    no_secret_in(page)
    assert "AUTH-ID-777" not in page.content() and "PAIR-4242" not in page.content()

    page.goto("/portal/contacts")
    page.fill("#security_incident-name", "山田 花子")
    page.fill("#security_incident-organisation", "東海スマートエナジー SOC")
    page.fill("#security_incident-email", "soc@example.jp")
    page.fill("#security_incident-phone", "052-111-2222")
    page.locator("form[action='/portal/contacts/security_incident'] button").click()
    page.wait_for_url(re.compile(r"/portal/contacts\?notice="))
    assert page.get_by_text("連絡先を保存しました").is_visible()
    assert page.locator("#security_incident-name").input_value() == "山田 花子"

    page.goto("/portal/compliance")
    page.fill("#ra-date", date.today().isoformat())
    page.fill("#ra-scope", "無線端末とIoTルート")
    page.fill("#ra-method", "脆弱性診断")
    page.fill("#ra-findings_summary", "重大な指摘なし")
    page.fill("#ra-remediation_status", "軽微な指摘は対処済み")
    page.locator("form[action='/portal/compliance/risk-assessments'] button").click()
    page.wait_for_url(re.compile(r"/portal/compliance\?notice="))
    assert page.get_by_text("無線端末とIoTルート", exact=True).is_visible()  # the last assessment, as recorded

    page.goto("/portal/bulk")
    csv = ("kind,maker,model,firmware,smart_meter_ids,auth_id,password,pairing_id\n"
           f"special_meter,東海計器,SPM-100,2.1.0,SM-101;SM-102,A-1,{PASSWORD},P-1\n"
           f"special_meter,東海計器,SPM-100,,SM-103,A-2,{PASSWORD},P-2\n")  # fmt: skip
    page.set_input_files("#file", files=[{"name": "meters.csv", "mimeType": "text/csv", "buffer": csv.encode()}])
    page.get_by_role("button", name="アップロードして登録").click()
    assert page.get_by_role("heading", name="結果: 登録 1件、拒否 1件").is_visible()
    assert page.locator("tr.registered a").count() == 1
    assert "firmware" in page.locator("tr.refused").inner_text()
    no_secret_in(page)

    open_until(page, "/portal", lambda: page.get_by_text("認証情報の漏洩の疑い").count() > 0, what="the reported incident")
    assert page.locator("td .owed").count() == 2  # both reports owed, each with its deadline
    assert page.locator("td .due").count() == 2
    screenshot(page, "portal")

    open_until(page, "/connections", lambda: page.locator("tbody tr").count() == 2, what="both connections")
    outsider = signed_in("operator", other)
    outsider.goto("/connections")
    assert connection_id not in outsider.content()
    assert outsider.get_by_text("該当する接続はありません").is_visible()
    response = outsider.goto(f"/connections/{connection_id}")
    assert response.status == 404 and outsider.get_by_role("heading", name=re.compile("見つかりません")).is_visible()


def test_the_soc_blocks_a_connection_after_confirming_and_each_side_sees_who_must_approve(signed_in, console_system) -> None:
    operator_id = onboarded(console_system)
    incident_id = reported(console_system, operator_id)
    body = {"kind": "special_meter", "maker": "東海計器", "model": "SPM-100", "firmware": "2.1.0", "smart_meter_ids": ["SM-9"],
            "secrets": {"auth_id": "A-9", "password": PASSWORD, "pairing_id": "P-9"}}  # fmt: skip
    created = httpx.post(f"{console_system.url('connection')}/connections", headers=bearer("operator", operator_id), json=body)
    assert created.status_code == 201, created.text
    connection_id = created.json()["id"]

    soc = signed_in("utility_soc")
    soc.goto(f"/connections?operator_id={operator_id}")
    assert soc.get_by_role("link", name=connection_id).is_visible()
    screenshot(soc, "connections")
    soc.get_by_role("link", name=connection_id).click()
    soc.select_option("#reason", "abnormal_communication")
    soc.fill("#incident_id", incident_id)
    soc.fill("#block-note", "異常通信を検知したため遮断")
    soc.get_by_role("button", name="確認へ進む").click()
    assert soc.get_by_role("heading", name="遮断の確認").is_visible()
    assert soc.locator(".status-blocked").count() == 0  # nothing happened yet
    soc.get_by_role("button", name="遮断する").click()
    soc.wait_for_url(re.compile(rf"/connections/{connection_id}\?notice="))
    assert soc.locator("h1 .status-blocked").is_visible()
    assert soc.get_by_role("link", name=incident_id).is_visible()
    missing = soc.locator("p.missing")
    assert "電力会社側" in missing.inner_text() and "事業者側" in missing.inner_text()
    assert soc.get_by_text("どちらの側も承認できません").is_visible()  # blocked: nobody approves before clearing
    assert soc.get_by_role("button", name=re.compile("再接続を承認")).count() == 0
    no_secret_in(soc)
    screenshot(soc, "connection")

    cleared(console_system, incident_id)
    awaiting_approval(console_system, connection_id, operator_id)
    soc.reload()
    soc.get_by_role("button", name="再接続を承認(電力会社側)").click()
    soc.wait_for_url(re.compile(rf"/connections/{connection_id}\?notice="))
    assert soc.locator("p.missing").inner_text().split(":")[-1].strip() == "事業者側"

    operator = signed_in("operator", operator_id)
    operator.goto(f"/connections/{connection_id}")
    assert operator.locator("h1 .status-awaiting_approval").is_visible()
    assert "事業者側" in operator.locator("p.missing").inner_text() and "電力会社側" not in operator.locator("p.missing").inner_text()
    assert operator.get_by_role("button", name="再接続を承認(事業者側)").is_visible()
    assert operator.get_by_role("heading", name="接続を遮断").count() == 0  # only the SOC blocks
    no_secret_in(operator)
