"""Signing in to the console in a real browser: Japanese first, English on request, and forms without the
session's CSRF token refused."""

from __future__ import annotations

import re

import pytest

from tests.console.conftest import accessibility_problems, screenshot

pytestmark = pytest.mark.integration


def test_the_sign_in_page_is_japanese_first_with_english_alongside(browser, console_system) -> None:
    context = browser.new_context(base_url=console_system.console_url)
    page = context.new_page()
    page.goto("/signin")
    assert page.locator("html").get_attribute("lang") == "ja"
    assert page.get_by_role("heading", name="サインイン", exact=True).is_visible()
    screenshot(page, "signin")
    assert accessibility_problems(page) == []
    page.get_by_role("link", name="English").click()
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("heading", name="Sign in", exact=True).is_visible()
    context.close()


def test_a_page_asks_for_sign_in_and_returns_there_afterwards(browser, console_system) -> None:
    context = browser.new_context(base_url=console_system.console_url)
    page = context.new_page()
    page.goto("/incidents?status=open")
    assert re.search(r"/signin\?next=", page.url)
    page.select_option("#role", "auditor")
    page.click("form[action='/signin'] button[type=submit]")
    page.wait_for_url(re.compile(r"/incidents\?status=open$"))
    context.close()


def test_a_form_without_the_sessions_csrf_token_is_refused_and_changes_nothing(signed_in) -> None:
    page = signed_in("auditor")
    forged = page.request.post("/signout", form={"csrf": "not-the-token"}, max_redirects=0)
    assert forged.status == 403
    assert "確認トークン" in forged.text()
    # still signed in: the forged sign-out did nothing
    page.goto("/incidents")
    assert "/signin" not in page.url
    assert page.get_by_role("button", name="サインアウト").is_visible()


def test_sign_out_ends_the_session(signed_in) -> None:
    page = signed_in("auditor")
    page.get_by_role("button", name="サインアウト").click()
    page.wait_for_url(re.compile(r"/signin"))
    page.goto("/incidents")
    assert "/signin" in page.url
