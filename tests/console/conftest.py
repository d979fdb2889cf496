"""The console in a real browser against the whole running system: the broker, the four services, the console.

Chromium is Debian's (``/usr/bin/chromium``, installed by ``make test``'s setup: Playwright cannot download
its own browser here), driven by Playwright for Python. The system is started once for every browser test
(package scope: stopped once the console's tests are done, so it does not run beside the rest of the suite) on its
own topic prefix; each test signs in as the role it needs with the development form.
Screenshots go to ``tests/console/output/`` (ignored by git, kept by CI as artifacts).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from shared.processes import System
from tests.system import whole_system

OUTPUT = Path(__file__).parent / "output"
AXE = Path(__file__).resolve().parents[2] / ".cache" / "axe-core-4.14.1" / "axe.min.js"
"""axe-core, fetched by ``make test``'s setup (``make browser``): the accessibility rules browsers' own audits use."""
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]  # fmt: skip
"""What a root process on a machine with a closed network needs: no sandbox, and no calls home."""


def chromium_path() -> str:
    """Debian's Chromium (or SMGUARD_CHROMIUM); the setup of ``make test`` installs it."""
    path = os.environ.get("SMGUARD_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        pytest.fail("Chromium is not installed: `make test` installs it (apt-get install chromium fonts-noto-cjk), "
                    "or set SMGUARD_CHROMIUM to a Chromium binary")  # fmt: skip
    return path


@pytest.fixture(scope="package")
def console_system(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    """The four services and the console, started as ``smguard run`` starts them, with mail and HES on disk.
    A loaded machine starts five processes slowly: 180 s without progress before giving up."""
    with whole_system(kafka_bootstrap, tmp_path_factory.mktemp("console"), stem="console", console=True, timeout=180) as running:
        running.console_url = running.url("console")  # type: ignore[attr-defined]
        yield running


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """One headless Chromium for the session."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def signed_in(browser: Any, console_system: System, request: pytest.FixtureRequest) -> Iterator[Callable[..., Any]]:
    """``signed_in("utility_soc")`` or ``signed_in("operator", "op-1")``: a fresh browser context signed in
    through the development form, as a page at the role's home. ``lang="en"`` for English."""
    contexts: list[Any] = []

    def sign_in(role: str, operator_id: str | None = None, *, lang: str = "ja") -> Any:
        context = browser.new_context(base_url=console_system.console_url, locale="ja-JP" if lang == "ja" else "en-US",
                                      timezone_id="Asia/Tokyo", viewport={"width": 1400, "height": 1000})  # fmt: skip
        context.set_default_timeout(20_000)
        contexts.append(context)
        page = context.new_page()
        if lang != "ja":
            page.goto(f"/lang/{lang}?next=/signin")
        page.goto("/signin")
        page.select_option("#role", role)
        if operator_id:
            page.fill("#operator_id", operator_id)
        page.click("form[action='/signin'] button[type=submit]")
        page.wait_for_load_state()
        return page

    yield sign_in
    for context in contexts:
        context.close()


def screenshot(page: Any, name: str) -> Path:
    """A full-page screenshot under tests/console/output/ (a CI artifact)."""
    OUTPUT.mkdir(exist_ok=True)
    path = OUTPUT / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def accessibility_problems(page: Any) -> list[str]:
    """What axe-core finds wrong on the page as it is (WCAG 2.1 A and AA: labels, contrast, names, roles,
    headings, keyboard): one line per rule broken, with where. The console's CSP forbids injected scripts,
    so the check runs in a copy of the page opened in a context that bypasses CSP, with the same cookies."""
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: `make browser` (run by `make test`) fetches axe-core")
    context = page.context.browser.new_context(bypass_csp=True, base_url=None, locale="ja-JP")
    try:
        context.add_cookies(page.context.cookies())
        probe = context.new_page()
        probe.goto(page.url)
        probe.add_script_tag(path=str(AXE))
        result = probe.evaluate(
            "async () => (await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}}))"
            ".violations.map(v => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', ')}`)"
        )
        return list(result)
    finally:
        context.close()


def open_until(page: Any, path: str, shows: Callable[[], bool], *, within: float = 30.0, what: str = "") -> None:
    """Open a page, and open it again until it ``shows`` what a write made elsewhere has reached its service's
    read model (eventually consistent: the broker is between the write and the read); fails after ``within``."""
    import time

    deadline = time.monotonic() + within
    page.goto(path)
    while not shows():
        if time.monotonic() > deadline:
            pytest.fail(f"{path} did not show {what or 'what was expected'} within {within:.0f}s")
        page.wait_for_timeout(200)  # the poll's interval
        page.goto(path)
