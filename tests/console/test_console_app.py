"""The console's own rules, without a broker: sign-in (development form and OIDC with PKCE), sessions and
their cookie, CSRF, safe redirects, security headers, and words in both languages.

The app is built without its lifespan (no Kafka): these tests never reach a page that calls a service."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from fastapi.testclient import TestClient

from shared.config import Settings
from services.console.bootstrap import build_app
from services.console.config import ConsoleSettings
from services.console.i18n import MESSAGES, t
from services.console.sessions import COOKIE, Sessions, safe_next
from shared.principal import Principal
from tests.console.idp import CLIENT_ID, AuthorizationServer
from tests.factories import TEST_SECRET
from tests.security.tokens_issuer import AUDIENCE

TEMPLATES = Path(__file__).resolve().parents[2] / "services" / "console" / "templates"


def console(*, client_host: str = "127.0.0.1", **settings: object) -> TestClient:
    app = build_app(Settings(jwt_secret=TEST_SECRET, **settings), options=ConsoleSettings())  # type: ignore[arg-type]
    return TestClient(app, base_url="http://127.0.0.1:8100", client=(client_host, 50000))


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "the form carries no CSRF token"
    return match.group(1)


def dev_sign_in(client: TestClient, role: str, operator_id: str = "", next_url: str = "/") -> httpx.Response:
    form = client.get("/signin", params={"next": next_url})
    return client.post("/signin", data={"csrf": csrf_of(form.text), "role": role, "operator_id": operator_id},
                       follow_redirects=False)  # fmt: skip


def test_development_sign_in_opens_a_session_in_an_httponly_cookie_that_holds_no_token() -> None:
    client = console()
    answer = dev_sign_in(client, "operator", "op-1")
    assert answer.status_code == 303 and answer.headers["location"] == "/portal"
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith(COOKIE + "="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    session = client.app.state.sessions.get(client.cookies.get(COOKIE))
    assert session.principal == Principal(sub="console:operator:op-1", role="operator", operator_id="op-1")
    assert session.token not in " ".join(answer.headers.get_list("set-cookie"))


def test_development_sign_in_is_refused_to_a_browser_that_is_not_on_loopback() -> None:
    client = console(client_host="192.0.2.10")
    answer = dev_sign_in(client, "utility_soc")
    assert answer.status_code == 403
    assert "ループバック" in answer.text
    assert COOKIE not in client.cookies


@pytest.mark.parametrize(("role", "operator_id", "words"), [("operator", "", "事業者ID"), ("sensor", "", "センサー")])
def test_development_sign_in_says_what_is_wrong_with_the_choice(role: str, operator_id: str, words: str) -> None:
    client = console()
    answer = dev_sign_in(client, role, operator_id)
    assert answer.status_code == 422 and words in answer.text
    assert COOKIE not in client.cookies


def test_a_sign_in_form_without_its_csrf_token_is_refused() -> None:
    client = console()
    client.get("/signin")
    answer = client.post("/signin", data={"csrf": "forged", "role": "utility_soc"}, follow_redirects=False)
    assert answer.status_code == 403
    assert COOKIE not in client.cookies


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil.example"])
def test_after_sign_in_the_browser_never_leaves_the_console(target: str) -> None:
    assert safe_next(target) == "/"
    answer = dev_sign_in(console(), "auditor", next_url=target)
    assert answer.headers["location"] == "/audit"


def test_a_page_without_a_session_sends_the_browser_to_sign_in_and_back() -> None:
    answer = console().get("/connections?status=blocked", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/signin?next=%2Fconnections%3Fstatus%3Dblocked"


def test_pages_carry_the_security_headers_and_are_not_cached() -> None:
    answer = console().get("/signin")
    assert "script-src 'self'" in answer.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["x-content-type-options"] == "nosniff"


def test_sessions_are_bounded_and_expire() -> None:
    now = [1000.0]
    sessions = Sessions(max_sessions=10, ttl_seconds=60, clock=lambda: now[0])
    principal = Principal(sub="s", role="auditor")
    opened = [sessions.open("token", principal, token_expires=None) for _ in range(12)]
    assert len(sessions) == 10 and sessions.get(opened[0].id) is None and sessions.get(opened[-1].id) is not None
    short = sessions.open("token", principal, token_expires=now[0] + 5)  # ends with its token
    now[0] += 6
    assert sessions.get(short.id) is None
    assert sessions.get(opened[-1].id) is not None
    now[0] += 60
    assert sessions.get(opened[-1].id) is None


def test_every_message_has_japanese_and_english_and_every_key_a_template_uses_exists() -> None:
    import services.console.bootstrap  # noqa: F401 - registers every page's messages

    assert all(entry["ja"].strip() and entry["en"].strip() for entry in MESSAGES.values())
    used = set()
    for template in TEMPLATES.rglob("*.html"):
        used |= set(re.findall(r"""\bt\(\s*["']([a-z0-9_.]+)["']\s*[,)]""", template.read_text()))
    assert used, "no template uses t()"
    assert sorted(used - MESSAGES.keys()) == []
    assert t("nav.incidents", "ja") == "インシデント" and t("nav.incidents", "en") == "Incidents"


@pytest.fixture
def idp() -> AuthorizationServer:
    server = AuthorizationServer()
    yield server
    server.stop()


def oidc_console(idp: AuthorizationServer) -> TestClient:
    import os

    os.environ["SMGUARD_OIDC_CLIENT_ID"] = CLIENT_ID
    try:
        return console(oidc_issuer=idp.url, oidc_audience=AUDIENCE)
    finally:
        del os.environ["SMGUARD_OIDC_CLIENT_ID"]


def test_oidc_sign_in_is_the_authorization_code_flow_with_pkce(idp: AuthorizationServer) -> None:
    client = oidc_console(idp)
    page = client.get("/signin")
    assert "/signin/oidc" in page.text and 'name="role"' not in page.text  # no development form with an issuer
    away = client.get("/signin/oidc", follow_redirects=False)
    assert away.status_code == 303 and away.headers["location"].startswith(idp.url + "/authorize?")
    asked = {k: v[0] for k, v in parse_qs(urlparse(away.headers["location"]).query).items()}
    assert asked["response_type"] == "code" and asked["client_id"] == CLIENT_ID
    assert asked["code_challenge_method"] == "S256" and len(asked["code_challenge"]) >= 43
    assert asked["redirect_uri"] == "http://127.0.0.1:8100/signin/callback" and asked["state"] and asked["nonce"]
    back = httpx.get(away.headers["location"], follow_redirects=False).headers["location"]  # the provider signs in
    arrived = client.get(back.removeprefix("http://127.0.0.1:8100"), follow_redirects=False)
    assert arrived.status_code == 303 and arrived.headers["location"] == "/"
    assert idp.token_requests[-1]["code_verifier"]  # the verifier was sent (the provider checked it)
    session = client.app.state.sessions.get(client.cookies.get(COOKIE))
    assert session.principal.role == "utility_soc" and session.principal.sub == "analyst-1"


def test_oidc_callback_with_another_browsers_state_is_refused(idp: AuthorizationServer) -> None:
    client = oidc_console(idp)
    away = client.get("/signin/oidc", follow_redirects=False)
    back = httpx.get(away.headers["location"], follow_redirects=False).headers["location"]
    forged = re.sub(r"state=[^&]+", "state=someone-elses", back)
    answer = client.get(forged.removeprefix("http://127.0.0.1:8100"), follow_redirects=False)
    assert answer.status_code == 400
    assert COOKIE not in client.cookies


def test_oidc_sign_in_of_a_role_without_a_console_is_refused(idp: AuthorizationServer) -> None:
    idp.user = {"sub": "meter-sensor", "role": "sensor"}
    client = oidc_console(idp)
    away = client.get("/signin/oidc", follow_redirects=False)
    back = httpx.get(away.headers["location"], follow_redirects=False).headers["location"]
    answer = client.get(back.removeprefix("http://127.0.0.1:8100"), follow_redirects=False)
    assert answer.status_code == 400 and "センサー" in answer.text
    assert COOKIE not in client.cookies
