"""The agreement's story through the console alone, in a real browser against the whole running system.

The SOC onboards an operator; the operator registers its special meter and its incident contact; a sensor
reports an attack (sensors are machines: the one call not made in a browser) and the SOC's dashboard shows
the block appear live, without reloading; the operator files both reports; the SOC clears the incident;
both sides approve the reconnection and the connection is active again; the auditor verifies the log and
downloads the incident's dossier. Every page visited is checked with axe-core and photographed: the
README's pictures come from here (``make screenshots``).
"""

from __future__ import annotations

import re
import time
from datetime import date, datetime, timezone
from urllib.parse import urlparse
from uuid import uuid4

import httpx
import pytest
from playwright.sync_api import expect

from shared.auth import mint_token
from shared.config import Settings
from tests.console.conftest import accessibility_problems, screenshot
from tests.factories import TEST_SECRET

pytestmark = pytest.mark.integration
LIVE = 60_000
"""How long a page may take to show what the system did (ms): through the broker, two services and the feed."""
PASSWORD = f"pw-{uuid4().hex}-秘密"


def visit(page, name: str) -> None:
    """Every page of the story: accessible (WCAG 2.1 AA by axe-core), and photographed."""
    assert accessibility_problems(page) == [], name
    screenshot(page, f"story-{name}")


def approve_when_possible(page, connection_id: str, within: float = 60.0) -> None:
    """Approve the reconnection on the connection page once it is offered: the clearing reaches the connection
    service through the broker, so the page is reloaded (with a deadline) until the approval form is there."""
    deadline = time.monotonic() + within
    page.goto(f"/connections/{connection_id}")
    approve = page.locator(f"form[action='/connections/{connection_id}/approve'] button")
    while not approve.count():
        if time.monotonic() > deadline:
            pytest.fail(f"no approval offered on /connections/{connection_id} within {within:.0f}s:\n{page.locator('main').inner_text()}")
        page.wait_for_timeout(200)  # the poll's interval
        page.reload()
    approve.click()
    page.wait_for_url(re.compile(r"notice="))


def test_the_agreements_story_through_the_console(signed_in, console_system) -> None:
    operator_id = f"op-{uuid4().hex[:6]}"

    # The SOC onboards the operator and makes attacks block at once.
    soc = signed_in("utility_soc")
    soc.goto("/operators")
    soc.fill("#new-operator-id", operator_id)
    soc.fill("#new-operator-name", "東海スマートエナジー株式会社")
    soc.fill("#new-operator-date", date.today().isoformat())
    soc.click("#onboard form[method='post'] button[type=submit]")
    soc.wait_for_url(re.compile(rf"/operators/{operator_id}\?notice="))
    expect(soc.get_by_role("heading", level=1)).to_contain_text("東海スマートエナジー株式会社")
    policy = httpx.put(f"{console_system.url('connection')}/block-policy", json={"unauthorized_access": "auto"},
                       headers={"Authorization": f"Bearer {mint_token(Settings(jwt_secret=TEST_SECRET), role='utility_soc')}"})  # fmt: skip
    assert policy.status_code == 200, policy.text  # the policy has no page yet: the SOC sets it once, by the API

    # The operator registers its special meter and its security-incident contact.
    operator = signed_in("operator", operator_id)
    visit(operator, "portal")
    operator.goto("/connections/new")
    operator.select_option("#kind", "special_meter")
    operator.fill("#maker", "東海計器")
    operator.fill("#model", "SPM-100")
    operator.fill("#firmware", "2.1.0")
    operator.fill("#smart_meter_ids", "SM-001")
    operator.fill("#auth_id", "AUTH-0001")
    operator.fill("#password", PASSWORD)
    operator.fill("#pairing_id", "PAIR-0001")
    operator.get_by_role("button", name="登録する").click()
    operator.wait_for_url(re.compile(r"/connections/[^/?]+\?notice="))
    connection_id = urlparse(operator.url).path.rsplit("/", 1)[1]
    assert PASSWORD not in operator.content()
    operator.goto("/portal/contacts")
    operator.fill("#security_incident-name", "山田 花子")
    operator.fill("#security_incident-organisation", "東海スマートエナジー SOC")
    operator.fill("#security_incident-email", "soc@example.jp")
    operator.fill("#security_incident-phone", "052-111-2222")
    operator.locator("form[action='/portal/contacts/security_incident'] button").click()
    operator.wait_for_url(re.compile(r"/portal/contacts\?notice="))

    # The SOC watches its dashboard; a sensor reports an attack; the block appears without a reload.
    with soc.expect_response(lambda r: urlparse(r.url).path == "/live/events" and r.status == 200):
        soc.goto("/")
    navigations: list[str] = []
    soc.on("framenavigated", lambda frame: navigations.append(frame.url) if frame == soc.main_frame else None)
    sensor = {"Authorization": f"Bearer {mint_token(Settings(jwt_secret=TEST_SECRET), role='sensor')}"}
    accepted = httpx.post(f"{console_system.url('incident')}/anomalies", headers=sensor, json={
        "signal_id": f"sig-{uuid4().hex[:8]}", "connection_id": connection_id, "type": "unauthorized_access",
        "severity": "critical", "observed_at": datetime.now(timezone.utc).isoformat(), "evidence": {"rule": "HES-17"},
    })  # fmt: skip
    assert accepted.status_code == 202, accepted.text
    incident_id = accepted.json()["incident_id"]
    expect(soc.locator("#feed li", has_text="ConnectionBlocked").filter(has_text=connection_id).first).to_be_visible(timeout=LIVE)
    expect(soc.locator("#blocked").get_by_role("link", name=connection_id)).to_be_visible(timeout=LIVE)
    assert navigations == [], f"the dashboard navigated: {navigations}"
    visit(soc, "dashboard")

    # The operator files both reports on the incident page.
    operator.goto(f"/incidents/{incident_id}")
    operator.fill("#initial-event", "特例計量器から不正アクセス")
    operator.fill("#initial-location", "名古屋営業所")
    operator.fill("#impact-target-1", "スマートメーター SM-001")
    operator.fill("#impact-text-1", "不正な通信の試み")
    operator.fill("#initial-response_plan", "認証情報を失効させ、端末を点検する")
    operator.click("form[action$='/reports/initial'] button[type=submit]")
    operator.wait_for_url(re.compile(r"notice="))
    operator.fill("#cause-cause", "初期パスワードのまま運用していた")
    operator.fill("#cause-countermeasure", "認証情報を更新")
    operator.fill("#cause-countermeasure_plan", "全端末で今週中に実施")
    operator.fill("#cause-recurrence_prevention", "初期設定の変更を出荷手順に追加")
    operator.click("form[action$='/reports/cause'] button[type=submit]")
    operator.wait_for_url(re.compile(r"notice="))
    reports = operator.locator("#reports")
    expect(reports).to_contain_text("名古屋営業所")
    expect(reports).to_contain_text("初期パスワードのまま運用していた")

    # The SOC clears it (after confirming), then both sides approve the reconnection.
    soc.goto(f"/incidents/{incident_id}")
    soc.fill("#clear-summary", "認証情報を更新し、端末を点検済み")
    soc.click("form[action$='/clear'] button[type=submit]")
    soc.click("form[action$='/clear'] button[type=submit]")  # the confirmation step
    soc.wait_for_url(re.compile(rf"/incidents/{incident_id}"))
    expect(soc.locator(".badges .status-cleared")).to_have_text("解消")
    visit(soc, "incident")

    for page in (soc, operator):
        approve_when_possible(page, connection_id)
    operator.goto(f"/connections/{connection_id}")
    expect(operator.locator("h1 .status-active")).to_be_visible(timeout=LIVE)
    visit(operator, "connection")

    # The auditor verifies the log and downloads the dossier.
    auditor = signed_in("auditor")
    auditor.goto("/audit")
    auditor.get_by_role("button", name=re.compile("検証")).first.click()
    expect(auditor.get_by_test_id("verified-root")).not_to_be_empty()
    visit(auditor, "audit")
    auditor.goto(f"/incidents/{incident_id}/dossier")
    with auditor.expect_download() as download:
        auditor.get_by_role("link", name="Markdownでダウンロード").click()
    dossier = open(download.value.path(), encoding="utf-8").read()
    assert incident_id in dossier and "初期パスワードのまま運用していた" in dossier
    assert PASSWORD not in dossier
