"""The incidents pages in a real browser against the whole running system: an operator reports an incident and
files both report parts and a note through the console's forms, the SOC clears it (first too early, and is told
why), the timeline tells every step; another operator finds nothing at that incident's address; the list finds
it by its title; the dossier downloads as Markdown."""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest

from shared.auth import mint_token
from shared.config import Settings
from tests.console.conftest import screenshot
from tests.factories import TEST_SECRET

pytestmark = pytest.mark.integration


def token(role: str, operator_id: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(Settings(jwt_secret=TEST_SECRET), role=role, operator_id=operator_id)}"}


def onboarded(system: Any) -> str:
    """A fresh operator of this test, onboarded by the SOC."""
    operator_id = f"op-{uuid4().hex[:6]}"
    answer = httpx.post(f"{system.url('connection')}/operators", headers=token("utility_soc"),
                        json={"operator_id": operator_id, "name": f"東海テスト電力 {operator_id}", "agreement_date": "2025-04-01"})  # fmt: skip
    assert answer.status_code == 201, answer.text
    return operator_id


def reported(system: Any, operator_id: str, title: str) -> str:
    """An incident the operator reported through the incident service's API."""
    body = {"category": "credential_leak", "severity": "critical", "title": title, "detected_at": datetime.now(timezone.utc).isoformat(),
            "affected_assets": [{"kind": "iot_route", "id": "IOT-7"}]}  # fmt: skip
    answer = httpx.post(f"{system.url('incident')}/incidents", headers=token("operator", operator_id), json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


def side_by_side(page: Any) -> None:
    """Both report parts are on screen next to each other: same row, the initial part on the left."""
    initial, cause = page.locator("#report-initial").bounding_box(), page.locator("#report-cause").bounding_box()
    assert initial["x"] + initial["width"] <= cause["x"] and abs(initial["y"] - cause["y"]) < 2


def test_an_operator_files_both_parts_and_a_note_the_soc_clears_after_the_cause_report_and_the_timeline_tells_it(
    signed_in, console_system
) -> None:
    operator_id = onboarded(console_system)
    title = f"無線端末の紛失 {uuid4().hex[:6]}"
    operator = signed_in("operator", operator_id)

    # the operator reports it through the console's form
    operator.goto("/incidents/new")
    operator.fill("#n-title", title)
    operator.select_option("#n-category", "terminal_loss")
    operator.select_option("#n-severity", "high")
    operator.select_option("#n-asset-kind-1", "wireless_terminal")
    operator.fill("#n-asset-id-1", "WT-001")
    operator.click("form[action='/incidents/new'] button[type=submit]")
    operator.wait_for_url(re.compile(r"/incidents/[^/?#]+\?notice="))
    incident_url = operator.url.split("?")[0]
    assert operator.get_by_role("heading", name=title, level=1).is_visible()
    assert operator.get_by_role("status").inner_text() == "インシデントを報告しました。"
    side_by_side(operator)

    # part (i), then a note
    operator.fill("#initial-event", "営業所で無線端末を紛失")
    operator.fill("#initial-location", "名古屋営業所")
    operator.fill("#impact-target-1", "特例計量器 SP-1")
    operator.fill("#impact-text-1", "認証情報が悪用されるおそれ")
    operator.fill("#initial-response_plan", "認証情報を失効させる")
    operator.click("form[action$='/reports/initial'] button[type=submit]")
    operator.get_by_role("status").filter(has_text="報告を提出しました。").wait_for()
    operator.fill("#note-text", "端末の所在を確認中です。")
    operator.click("form[action$='/notes'] button[type=submit]")
    operator.get_by_role("status").filter(has_text="メモを追加しました。").wait_for()
    assert operator.locator("#notes .note-list").inner_text().count("端末の所在を確認中です。") == 1

    # the SOC tries to clear before the cause report: the 409 is explained, the summary kept
    soc = signed_in("utility_soc")
    soc.goto(incident_url)
    side_by_side(soc)
    assert "営業所で無線端末を紛失" in soc.locator("#report-initial").inner_text()
    soc.fill("#clear-summary", "端末を回収し、認証情報を失効済み")
    soc.click("form[action$='/clear'] button[type=submit]")
    soc.get_by_role("heading", name="解消を宣言しますか?").wait_for()
    soc.click("form[action$='/clear'] button[type=submit]")
    alert = soc.locator("#clear [role=alert]")
    alert.wait_for()
    assert "要因・対処方法(原因報告)が提出されるまで、インシデントは解消できません" in alert.inner_text()
    assert soc.locator("#clear-summary").input_value() == "端末を回収し、認証情報を失効済み"

    # part (ii) by the operator; then the SOC clears
    operator.goto(incident_url)
    operator.fill("#cause-cause", "持ち出し管理の不備")
    operator.fill("#cause-countermeasure", "端末の遠隔ロック")
    operator.fill("#cause-countermeasure_plan", "4月中に全端末へ適用")
    operator.fill("#cause-recurrence_prevention", "持ち出し台帳の運用")
    operator.click("form[action$='/reports/cause'] button[type=submit]")
    operator.get_by_role("status").filter(has_text="報告を提出しました。").wait_for()
    assert "持ち出し管理の不備" in operator.locator("#report-cause").inner_text()

    soc.goto(incident_url)
    soc.fill("#clear-summary", "端末を回収し、認証情報を失効済み")
    soc.click("form[action$='/clear'] button[type=submit]")
    soc.click("form[action$='/clear'] button[type=submit]")
    soc.get_by_role("status").filter(has_text="インシデントを解消しました。").wait_for()
    assert soc.locator(".badges .status-cleared").inner_text() == "解消"
    steps = soc.locator("ol.timeline > li")
    kinds = [steps.nth(n).get_attribute("data-type") for n in range(steps.count())]
    mine = [k for k in kinds if k in ("IncidentOpened", "ReportFiled", "IncidentNoteAttached", "IncidentCleared")]
    assert mine == ["IncidentOpened", "ReportFiled", "IncidentNoteAttached", "ReportFiled", "IncidentCleared"]
    timeline = soc.locator("ol.timeline").inner_text()
    assert "報告を提出: 発生事象・対処計画 (1)" in timeline and "報告を提出: 要因・対処方法 (1)" in timeline
    assert "端末の所在を確認中です。" in timeline and "JST" in timeline

    # the operator's reports reached the utility desk: the notifications show on the page (polled with a deadline)
    deadline = time.monotonic() + 30
    while "通知を登録" not in soc.locator("ol.timeline").inner_text():
        assert time.monotonic() < deadline, "no notification about the incident showed on its page"
        soc.reload()
    assert operator.locator("#notes").is_visible()
    screenshot(soc, "incident")


def test_another_operator_finds_nothing_the_list_finds_it_by_title_and_the_dossier_downloads_as_markdown(
    signed_in, console_system, tmp_path: Path
) -> None:
    owner = onboarded(console_system)
    title = f"IoTルートの認証情報漏洩 {uuid4().hex[:6]}"
    incident_id = reported(console_system, owner, title)

    stranger = signed_in("operator", onboarded(console_system))
    answer = stranger.goto(f"/incidents/{incident_id}")
    assert answer is not None and answer.status == 404
    assert stranger.get_by_role("heading", name="見つかりません(存在しないか、見る権限がありません)").is_visible()
    stranger.goto(f"/incidents?q={title}")
    assert stranger.locator("table a", has_text=title).count() == 0

    desk = signed_in("utility_desk")
    desk.goto("/incidents")
    desk.fill("#f-q", title)
    desk.select_option("#f-severity", "critical")
    desk.click("form.filters button[type=submit]")
    desk.wait_for_url(re.compile(r"/incidents\?.*severity=critical"))
    rows = desk.locator("table tbody tr")
    assert rows.count() == 1 and title in rows.first.inner_text() and owner in rows.first.inner_text()
    screenshot(desk, "incidents")

    auditor = signed_in("auditor")
    deadline = time.monotonic() + 30
    while True:  # the audit log follows the topics: the dossier shows once the incident is logged
        answer = auditor.goto(f"/incidents/{incident_id}/dossier")
        if answer is not None and answer.status == 200:
            break
        assert time.monotonic() < deadline, "the dossier did not show the incident"
    assert title in auditor.locator("h1").inner_text()
    with auditor.expect_download() as download:
        auditor.get_by_role("link", name="Markdownでダウンロード").click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.name == f"incident-{incident_id}-dossier.md"
    assert title in saved.read_text(encoding="utf-8")
