"""The audit and operators pages in a real browser against the whole running system: the SOC onboards an operator
and asks it for a status report; an auditor verifies the log, keeps its checkpoint and finds the onboarding; an
operator is refused both pages."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from datetime import datetime, timedelta
from uuid import uuid4
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import expect

from shared.auth import mint_token
from shared.config import REPO_ROOT, Settings
from tests.console.conftest import screenshot
from tests.factories import TEST_SECRET

pytestmark = pytest.mark.integration


def bearer(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(Settings(jwt_secret=TEST_SECRET), role=role)}"}


def audit_entries(console_system, operator_id: str, *, deadline_seconds: float = 30) -> list[dict]:
    """The audit log's entries of an operator once the log has read them (polled with a deadline)."""
    deadline = time.monotonic() + deadline_seconds
    while True:
        answer = httpx.get(console_system.url("audit") + "/audit/entries", params={"operator_id": operator_id},
                           headers=bearer("auditor"), timeout=10)  # fmt: skip
        items = answer.json().get("items", []) if answer.status_code == 200 else []
        if items or time.monotonic() > deadline:
            return items
        time.sleep(0.2)  # polling the service until a deadline, not synchronising the browser


def test_the_soc_onboards_an_operator_and_asks_it_for_a_status_report(signed_in) -> None:
    operator_id = f"op-{uuid4().hex[:6]}"
    page = signed_in("utility_soc")
    page.goto("/operators")
    page.get_by_label("事業者ID", exact=True).fill(operator_id)
    page.get_by_label("名称", exact=True).fill("知多グリッドサービス株式会社")
    page.get_by_label("契約日").fill("2025-04-01")
    page.get_by_role("button", name="登録する").click()
    expect(page.get_by_role("status")).to_contain_text("事業者を登録しました")
    expect(page.get_by_role("heading", level=1)).to_contain_text("知多グリッドサービス株式会社")
    expect(page.get_by_role("heading", name="年次の義務")).to_be_visible()

    reply_by = (datetime.now(ZoneInfo("Asia/Tokyo")).date() + timedelta(days=14)).isoformat()
    page.get_by_label("依頼内容").fill("年次のリスク評価と訓練の実施状況をご提示ください")
    page.get_by_label("回答期限").fill(reply_by)
    page.get_by_role("button", name="依頼する").click()
    expect(page.get_by_role("status")).to_contain_text("状況報告を依頼しました")
    requests = page.locator("table", has=page.get_by_role("columnheader", name="回答期限"))
    expect(requests).to_contain_text("年次のリスク評価と訓練の実施状況をご提示ください")
    expect(requests).to_contain_text(reply_by)
    screenshot(page, "operators")

    page.goto("/operators")
    page.get_by_label("事業者IDまたは名称で絞り込み").fill("知多グリッド")
    page.get_by_role("button", name="絞り込み").click()
    row = page.get_by_role("row", name=operator_id)
    expect(row).to_contain_text("知多グリッドサービス株式会社")
    expect(row).to_contain_text("2025-04-01")


def test_an_auditor_verifies_the_log_keeps_its_checkpoint_and_finds_an_onboarding(signed_in, console_system, tmp_path) -> None:
    operator_id = f"op-{uuid4().hex[:6]}"
    onboard = {"operator_id": operator_id, "name": "渥美メータリング合同会社", "agreement_date": "2025-10-01"}
    created = httpx.post(console_system.url("connection") + "/operators", json=onboard, headers=bearer("utility_soc"), timeout=10)
    assert created.status_code == 201
    assert audit_entries(console_system, operator_id), "the audit log never read the onboarding"

    page = signed_in("auditor")
    expect(page).to_have_url(console_system.console_url + "/audit")  # the auditor's home
    page.get_by_label("事業者ID", exact=True).fill(operator_id)
    page.get_by_role("button", name="検索").click()
    row = page.get_by_role("row").filter(has_text="OperatorOnboarded")
    expect(row).to_contain_text(operator_id)
    expect(row).to_contain_text("JST")

    with page.expect_download() as download:
        page.get_by_role("link", name="チェックポイントをダウンロード(JSON)").click()
    kept = tmp_path / download.value.suggested_filename
    download.value.save_as(kept)
    checkpoint = json.loads(kept.read_text())
    assert kept.name.startswith("smguard-checkpoint-") and kept.suffix == ".json"
    assert checkpoint["checkpoint"]["size"] >= 1 and len(checkpoint["checkpoint"]["root"]) == 64 and checkpoint["public_key"]
    kept_check = subprocess.run(  # the file is what `smguard verify --checkpoint FILE` takes, and it accepts it
        [sys.executable, "-m", "shared.cli", "verify", "--checkpoint", str(kept), "--url", console_system.url("audit")],
        env={**os.environ, "SMGUARD_JWT_SECRET": TEST_SECRET, "SMGUARD_TOKEN": ""}, cwd=REPO_ROOT, capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    assert kept_check.returncode == 0, kept_check.stdout + kept_check.stderr
    assert "consistent with" in kept_check.stdout

    page.get_by_role("button", name="今すぐ検証する").click()
    expect(page.locator("#verification")).to_contain_text("改ざんなし")
    expect(page.get_by_test_id("verified-root")).to_have_text(re.compile(r"^[0-9a-f]{64}$"))
    expect(row).to_contain_text(operator_id)  # verifying keeps the search
    screenshot(page, "audit")


def test_an_operator_is_refused_the_audit_and_operators_pages(signed_in) -> None:
    page = signed_in("operator", f"op-{uuid4().hex[:6]}")
    for path in ("/audit", "/operators"):
        answer = page.goto(path)
        assert answer is not None and answer.status == 403
        expect(page.get_by_role("heading", level=1)).to_have_text("この操作をする権限がありません")
    expect(page.get_by_role("link", name="監査")).to_have_count(0)  # nor is either in its navigation
    expect(page.get_by_role("link", name="事業者", exact=True)).to_have_count(0)
