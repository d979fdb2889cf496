"""The SOC dashboard and the vulnerability declaration in a real browser against the whole running system:
an anomaly shows up on the dashboard live (no reload), other roles are sent home, and a declaration says
how many connections it concerns before it is made."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlparse
from uuid import uuid4

import httpx
import pytest
from playwright.sync_api import expect

from shared.auth import mint_token
from shared.config import Settings
from tests.console.conftest import screenshot
from tests.factories import TEST_SECRET

pytestmark = pytest.mark.integration
SETTINGS = Settings(jwt_secret=TEST_SECRET)
LIVE = 60_000
"""How long the page may take to show what the system did (milliseconds): through the broker, two services and the feed."""


def headers(role: str, operator_id: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(SETTINGS, role=role, operator_id=operator_id)}"}


def call(system: Any, service: str, method: str, path: str, *, role: str = "utility_soc", operator_id: str | None = None,
         json: Any = None, expect_status: int = 200) -> Any:  # fmt: skip
    response = httpx.request(method, system.url(service) + path, json=json, headers=headers(role, operator_id), timeout=30)
    assert response.status_code == expect_status, response.text
    return response.json() if response.content else None


def onboarded(system: Any) -> str:
    operator_id = f"op-{uuid4().hex[:6]}"
    call(system, "connection", "POST", "/operators", json={"operator_id": operator_id, "name": f"{operator_id} 株式会社",
                                                           "agreement_date": "2025-04-01"}, expect_status=201)  # fmt: skip
    return operator_id


def registered(system: Any, operator_id: str, *, maker: str, firmware: str = "2.1.0") -> str:
    body = {
        "kind": "special_meter", "maker": maker, "model": "TK-100", "firmware": firmware,
        "smart_meter_ids": [f"sm-{uuid4().hex[:8]}"],
        "secrets": {"auth_id": "AUTH-0001", "password": "pw-秘密-0001", "pairing_id": "PAIR-0001"},
    }  # fmt: skip
    return call(system, "connection", "POST", "/connections", role="operator", operator_id=operator_id, json=body, expect_status=201)["id"]


def test_an_anomaly_shows_on_the_socs_dashboard_live_without_reloading(signed_in, console_system) -> None:
    operator_id = onboarded(console_system)
    call(console_system, "connection", "PUT", "/block-policy", json={"unauthorized_access": "auto"})
    connection_id = registered(console_system, operator_id, maker=f"maker-{uuid4().hex[:6]}")

    page = signed_in("utility_soc")
    with page.expect_response(lambda r: urlparse(r.url).path == "/live/events" and r.status == 200):
        page.goto("/")  # the live stream is open before anything happens
    expect(page.get_by_role("heading", name="SOCダッシュボード", level=1)).to_be_visible()
    for heading in ("未解消のインシデント", "遮断中の接続", "遮断の推奨", "再接続の承認待ち", "期限超過", "ライブフィード"):
        expect(page.get_by_role("heading", name=re.compile(heading), level=2)).to_be_visible()
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url) if frame == page.main_frame else None)

    accepted = call(console_system, "incident", "POST", "/anomalies", expect_status=202, json={
        "signal_id": f"sig-{uuid4().hex[:8]}", "connection_id": connection_id, "type": "unauthorized_access",
        "severity": "critical", "observed_at": datetime.now(timezone.utc).isoformat(), "evidence": {"rule": "HES-17"},
    })  # fmt: skip
    incident_id = accepted["incident_id"]

    feed = page.locator("#feed")
    expect(feed).to_contain_text(incident_id, timeout=LIVE)
    expect(feed).to_contain_text("IncidentOpened", timeout=LIVE)
    expect(feed.locator("li", has_text="ConnectionBlocked").filter(has_text=connection_id).first).to_be_visible(timeout=LIVE)
    # the sections the events concern fetch themselves again: the blocked connection, linked to its page
    expect(page.locator("#blocked").get_by_role("link", name=connection_id)).to_be_visible(timeout=LIVE)
    expect(page.locator("#incidents")).to_contain_text(incident_id, timeout=LIVE)
    assert navigations == [], f"the page navigated: {navigations}"
    assert urlparse(page.url).path == "/"
    expect(page.locator("#blocked").get_by_role("link", name=connection_id)).to_have_attribute("href", f"/connections/{connection_id}")
    screenshot(page, "dashboard")


def test_other_roles_go_home_and_a_declaration_shows_its_reach_before_it_is_made(signed_in, console_system) -> None:
    operator = signed_in("operator", f"op-{uuid4().hex[:6]}")
    home = operator.request.get("/", max_redirects=0)
    assert home.status == 303 and home.headers["location"] == "/portal"
    auditor = signed_in("auditor")
    assert auditor.request.get("/", max_redirects=0).headers["location"] == "/audit"
    assert auditor.request.get("/vulnerabilities/new").status == 403

    maker = f"東海計器-{uuid4().hex[:6]}"  # this test's units only, whatever else the system holds
    a, b = onboarded(console_system), onboarded(console_system)
    for operator_id, firmware in ((a, "2.1.0"), (a, "2.2.9"), (b, "2.2.0"), (b, "2.3.0")):
        registered(console_system, operator_id, maker=maker, firmware=firmware)
    call(console_system, "connection", "PUT", "/block-policy", json={"serious_vulnerability": "auto"})

    page = signed_in("utility_soc")
    page.get_by_role("link", name="脆弱性の宣言").click()
    expect(page.get_by_role("heading", name="重大な脆弱性の宣言")).to_be_visible()
    page.get_by_label("件名").fill("TK-100 認証回避の脆弱性")
    page.get_by_label("重大度").select_option("critical")
    page.get_by_label("対象の機器種別").select_option("special_meter")
    page.get_by_label("メーカー").fill(maker)
    page.get_by_label("型式").fill("tk-100")
    page.get_by_label("ファームウェア").fill(">=2.1,<2.3")
    page.get_by_label("説明").fill("ベンダー公表の脆弱性。")
    page.get_by_role("button", name="影響を確認する").click()

    expect(page.get_by_role("heading", name="宣言の確認")).to_be_visible()
    expect(page.locator(".reach")).to_contain_text("2 事業者の 3 接続")
    expect(page.locator(".reach")).to_contain_text("すぐに遮断されます")
    rows = page.locator("table.by-operator tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text(a)
    expect(rows.nth(0)).to_contain_text("2")
    expect(rows.nth(1)).to_contain_text(b)
    screenshot(page, "vulnerability")

    page.get_by_role("button", name="宣言する").click()
    page.wait_for_url(re.compile(r"/incidents/[^/?#]+"))
    incident_id = urlparse(page.url).path.rsplit("/", 1)[1]
    declared = call(console_system, "incident", "GET", f"/incidents/{incident_id}")
    assert declared["category"] == "vulnerability" and declared["title"] == "TK-100 認証回避の脆弱性"
