"""The SOC dashboard and the vulnerability declaration without a browser or a broker: the console app under
FastAPI's TestClient, the four services played by an ``httpx.MockTransport`` whose answers are built with the
services' own response models and projections (so their shapes cannot drift from what the services send)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import threading
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from services.connection.domain.operator import Operator
from services.connection.entrypoints.schemas import ConnectionPublic, ConnectionsPublic, RecommendationPublic, VulnerabilityReachPublic
from services.connection.projections.standing import standing
from services.console.api import Services
from services.console.bootstrap import build_app
from services.console.config import ConsoleSettings
from services.console.feed import FeedItem
from services.console.pages import dashboard
from services.console.sessions import COOKIE
from services.incident.entrypoints.schemas import VulnerabilityDeclaredPublic
from services.incident.projections.incidents import apply
from services.incident.projections.queries import page, summary
from shared.auth import mint_token
from shared.config import Settings
from shared.envelope import Envelope
from shared.events.incident import ReportOverdue
from shared.principal import Principal
from tests.factories import TEST_SECRET, incident_opened

NOW = datetime.now(timezone.utc)


# ------------------------------------------------------------------------------------ what the services answer


def incident_summary(incident_id: str, *, severity: str, opened_hours_ago: float, operator: str = "op-a",
                     overdue: str | None = None) -> dict[str, Any]:  # fmt: skip
    """An incident as ``GET /incidents`` lists it: the incident service's own fold and summary."""
    opened_at = NOW - timedelta(hours=opened_hours_ago)
    event = incident_opened(incident_id, operator, severity=severity, title=f"件名 {incident_id}")
    view = apply(None, Envelope(event=event, subject=incident_id, sequence=1, source="smguard/incident", time=opened_at))
    if overdue:
        late = ReportOverdue(incident_id=incident_id, part=overdue, due_at=opened_at + timedelta(hours=1))
        view = apply(view, Envelope(event=late, subject=incident_id, sequence=2, source="smguard/incident", time=NOW))
    return json.loads(json.dumps(summary(view, operators=[operator])))


def connection(connection_id: str, *, status: str, operator: str = "op-a", enforcement: str = "enforced",
               blocked_hours_ago: float = 2, incident: str = "inc-1", approvals: dict | None = None) -> dict[str, Any]:  # fmt: skip
    holds = [] if status != "blocked" else [{
        "incident_id": incident, "reason": "unauthorized_access", "decided_by": {"kind": "policy", "id": "policy:unauthorized_access:auto", "role": None},
        "blocked_at": (NOW - timedelta(hours=blocked_hours_ago)).isoformat(), "request_id": f"req-{connection_id}",
    }]  # fmt: skip
    return ConnectionPublic.model_validate({
        "id": connection_id, "operator_id": operator, "kind": "special_meter", "maker": "東海計器", "model": "TK-100",
        "firmware": "2.1.0", "smart_meter_ids": ["sm-1"], "status": status, "blocking_incidents": holds,
        "approvals": approvals or {"utility": None, "operator": None}, "enforcement": enforcement, "enforcement_requests": [],
        "compromised": False, "compromised_by": [], "secrets": {"password": "••••2e"}, "version": 3,
        "registered_at": (NOW - timedelta(days=3)).isoformat(), "updated_at": (NOW - timedelta(hours=1)).isoformat(),
    }).model_dump(mode="json")  # fmt: skip


def compliance_of(operator_id: str) -> dict[str, Any]:
    """``GET /operators/{id}/compliance`` of an operator onboarded years ago that never recorded anything."""
    operator = Operator(operator_id)
    operator.onboard(name=operator_id, agreement_date=date(2023, 4, 1))
    return json.loads(json.dumps(standing(operator, date.today(), within_days=30)))


class Backend:
    """The four services: answers by (service, method, path); every request kept."""

    def __init__(self, settings: Settings) -> None:
        self.ports = {str(settings.port_of(s, 0)): s for s in ("incident", "connection", "notification", "audit")}
        self.requests: list[tuple[str, str, str, dict[str, list[str]], Any]] = []
        self.incidents: list[dict[str, Any]] = []
        self.connections: list[dict[str, Any]] = []
        self.recommendations: list[dict[str, Any]] = []
        self.flagged: list[str] = []
        self.reach = {"connections": 0, "operators": 0, "by_operator": [], "policy": "auto", "complete": True}
        self.refuse: dict[tuple[str, str], tuple[int, str]] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        service = self.ports[str(request.url.port)]
        path, query = request.url.path, parse_qs(urlparse(str(request.url)).query)
        body = json.loads(request.content) if request.content else None
        self.requests.append((service, request.method, path, query, body))
        if (service, path) in self.refuse:
            status, detail = self.refuse[(service, path)]
            return httpx.Response(status, json={"detail": detail})
        one = lambda name, default=None: query.get(name, [default])[0]  # noqa: E731
        if (service, request.method, path) == ("incident", "GET", "/incidents"):
            found = [i for i in self.incidents if i["status"] == one("status", i["status"]) and i["severity"] == one("severity", i["severity"])]
            found.sort(key=lambda i: i["opened_at"], reverse=True)  # newest first, as the service lists them
            offset, limit = int(one("offset", 0)), int(one("limit", 50))
            return httpx.Response(200, json=page(found[offset:offset + limit], total=len(found), limit=limit, offset=offset))
        if (service, request.method, path) == ("connection", "GET", "/connections"):
            found = [c for c in self.connections if c["status"] == one("status", c["status"])]
            answer = ConnectionsPublic(items=found, total=len(found), offset=0, limit=int(one("limit", 100)), next_offset=None)
            return httpx.Response(200, json=answer.model_dump(mode="json"))
        if (service, request.method) == ("connection", "GET") and path.startswith("/connections/") and path != "/connections/matching":
            found = [c for c in self.connections if c["id"] == path.rsplit("/", 1)[1]]
            return httpx.Response(200, json=found[0]) if found else httpx.Response(404, json={"detail": "connection not found"})
        if (service, request.method, path) == ("connection", "GET", "/block-recommendations"):
            return httpx.Response(200, json=[RecommendationPublic.model_validate(r).model_dump(mode="json") for r in self.recommendations])
        if (service, request.method) == ("connection", "POST") and path.startswith("/block-recommendations/"):
            return httpx.Response(200, json={"id": path.split("/")[2], "connection_id": "conn-r", "status": "blocked", "version": 4})
        if (service, request.method, path) == ("connection", "GET", "/connections/matching"):
            return httpx.Response(200, json=VulnerabilityReachPublic.model_validate(self.reach).model_dump(mode="json"))
        if service == "connection" and path.endswith("/compliance"):
            return httpx.Response(200, json=compliance_of(path.split("/")[2]))
        if (service, request.method, path) == ("audit", "GET", "/audit/entries"):
            items = [{"type": "ComplianceOverdue", "operator_id": o, "subject": o} for o in self.flagged]
            return httpx.Response(200, json={"items": items, "start": 0, "limit": 500, "next": None})
        if (service, request.method, path) == ("incident", "POST", "/vulnerabilities"):
            return httpx.Response(201, json=VulnerabilityDeclaredPublic(incident_id="inc-vuln-1", version=2).model_dump(mode="json"))
        return httpx.Response(404, json={"detail": f"no such route in the test backend: {request.method} {path}"})

    def calls(self, service: str, method: str, path: str) -> list[tuple[dict[str, list[str]], Any]]:
        return [(q, b) for s, m, p, q, b in self.requests if (s, m, p) == (service, method, path)]


@pytest.fixture
def world(tmp_path: Path) -> tuple[TestClient, Backend, Callable[..., TestClient]]:
    settings = Settings(jwt_secret=TEST_SECRET, data_dir=tmp_path, kafka_bootstrap_servers="127.0.0.1:9")
    backend = Backend(settings)
    services = Services(settings, timeout=5, transport=httpx.MockTransport(backend))
    app = build_app(settings, options=ConsoleSettings(), services=services)  # no lifespan: the feed is not started

    def as_role(role: str, operator_id: str | None = None, lang: str = "ja") -> TestClient:
        token = mint_token(settings, role=role, operator_id=operator_id)
        session = app.state.sessions.open(token, Principal(sub=f"t-{role}", role=role, operator_id=operator_id), token_expires=None, lang=lang)
        client = TestClient(app, base_url="http://127.0.0.1", follow_redirects=False)
        client.cookies.set(COOKIE, session.id)
        return client

    return as_role("utility_soc"), backend, as_role


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


# ------------------------------------------------------------------------------------ the dashboard


class TestWhoSeesIt:
    def test_operators_and_auditors_are_sent_to_their_own_home_and_a_stranger_to_sign_in(self, world):
        _, _, as_role = world
        assert as_role("operator", "op-a").get("/").headers["location"] == "/portal"
        assert as_role("auditor").get("/").headers["location"] == "/audit"
        anonymous = TestClient(world[0].app, base_url="http://127.0.0.1", follow_redirects=False)
        assert anonymous.get("/").headers["location"].startswith("/signin?next=")

    def test_the_sections_and_the_live_stream_are_the_utilitys_only(self, world):
        _, _, as_role = world
        assert as_role("operator", "op-a").get("/dashboard/sections/incidents").status_code == 403
        assert as_role("auditor").get("/live/events").status_code == 403
        anonymous = TestClient(world[0].app, base_url="http://127.0.0.1")
        assert anonymous.get("/live/events").status_code == 401


class TestSections:
    def test_each_section_is_sorted_counted_and_links_to_its_page(self, world):
        soc, backend, _ = world
        backend.incidents = [
            incident_summary("inc-low-new", severity="low", opened_hours_ago=1),
            incident_summary("inc-crit-new", severity="critical", opened_hours_ago=2),
            incident_summary("inc-crit-old", severity="critical", opened_hours_ago=50, overdue="initial"),
            incident_summary("inc-high", severity="high", opened_hours_ago=5),
        ]
        backend.connections = [
            connection("conn-enforced", status="blocked", enforcement="enforced", blocked_hours_ago=30),
            connection("conn-escalated", status="blocked", enforcement="escalated", blocked_hours_ago=1),
            connection("conn-waiting", status="awaiting_approval",
                       approvals={"utility": {"kind": "person", "id": "soc-yamada", "role": "utility_soc", "note": ""}, "operator": None}),
        ]  # fmt: skip
        backend.recommendations = [{"id": "rec-1", "connection_id": "conn-r", "operator_id": "op-b",
                                    "reason": "abnormal_communication", "incident_id": "inc-high"}]  # fmt: skip
        backend.flagged = ["op-late"]
        html = soc.get("/").text
        # open incidents: the most severe first, the oldest first among them; counted per severity
        order = [m for m in re.findall(r'href="/incidents/(inc-[a-z-]+)"', html) if m in {"inc-low-new", "inc-crit-new", "inc-crit-old", "inc-high"}]
        assert order[:4] == ["inc-crit-old", "inc-crit-new", "inc-high", "inc-low-new"]
        assert re.search(r"緊急 2", text(html)) and re.search(r"高 1", text(html))
        # blocked: the escalated enforcement first, linked to the connection's page
        assert html.index('href="/connections/conn-escalated"') < html.index('href="/connections/conn-enforced"')
        assert "エスカレーション" in html
        # awaiting approval: who approved and who has not
        assert "承認済み(soc-yamada)" in html and "未承認" in html
        # the SOC decides recommendations with POST forms carrying the session's CSRF token
        assert 'action="/dashboard/recommendations/rec-1/confirm"' in html
        assert 'action="/dashboard/recommendations/rec-1/reject"' in html
        # overdue: the unfiled initial report, and the flagged operator's yearly duties
        overdue = html[html.index('id="overdue"'):]
        assert "inc-crit-old" in overdue and "発生事象・対処計画" in overdue
        assert "op-late" in overdue and "リスクアセスメント" in overdue
        # the live stream is wired for htmx's SSE extension, and the feed reads without it
        assert 'sse-connect="/live/events"' in html and 'sse-swap="feed"' in html and 'hx-swap="afterbegin"' in html

    def test_the_desk_reads_recommendations_without_deciding_them(self, world):
        _, backend, as_role = world
        backend.recommendations = [{"id": "rec-1", "connection_id": "conn-r", "operator_id": "op-b",
                                    "reason": "abnormal_communication", "incident_id": "inc-1"}]  # fmt: skip
        html = as_role("utility_desk").get("/").text
        assert 'href="/connections/conn-r"' in html
        assert "/dashboard/recommendations/rec-1/confirm" not in html
        assert "閲覧のみ" in html
        refused = as_role("utility_desk").post("/dashboard/recommendations/rec-1/confirm", data={"csrf": csrf_of(html), "confirmed": "yes"})
        assert refused.status_code == 403
        assert backend.calls("connection", "POST", "/block-recommendations/rec-1/confirm") == []

    def test_empty_sections_say_what_happens_next_and_a_failing_service_spoils_only_its_own(self, world):
        soc, backend, _ = world
        backend.refuse[("connection", "/block-recommendations")] = (503, "rebalancing")
        html = soc.get("/").text
        assert "未解消のインシデントはありません" in html
        assert "遮断中の接続はありません" in html
        assert "サービスが一時的に応答できません" in html and "rebalancing" in html
        assert soc.get("/").status_code == 200

    def test_calls_are_bounded_whatever_the_data(self, world):
        soc, backend, _ = world
        backend.flagged = [f"op-{n}" for n in range(40)]
        html = soc.get("/").text
        compliance_calls = [r for r in backend.requests if r[2].endswith("/compliance")]
        assert len(compliance_calls) == dashboard.COMPLIANCE_CALLS
        assert "ほかに 30 事業者" in html
        assert len(backend.requests) <= 4 + 4 + 2 + 1 + 1 + dashboard.COMPLIANCE_CALLS

    def test_a_section_is_fetched_alone_for_a_live_refresh(self, world):
        soc, backend, _ = world
        backend.connections = [connection("conn-x", status="blocked")]
        fragment = soc.get("/dashboard/sections/blocked", headers={"HX-Request": "true"})
        assert fragment.status_code == 200
        assert fragment.text.lstrip().startswith('<section id="blocked"') and "conn-x" in fragment.text
        assert "<html" not in fragment.text
        assert soc.get("/dashboard/sections/nothing").status_code == 404


class TestDecidingARecommendation:
    def test_confirm_shows_what_will_be_blocked_first_then_blocks_with_the_users_token(self, world):
        soc, backend, _ = world
        backend.connections = [connection("conn-r", status="active", operator="op-b")]
        backend.recommendations = [{"id": "rec-1", "connection_id": "conn-r", "operator_id": "op-b",
                                    "reason": "abnormal_communication", "incident_id": "inc-1"}]  # fmt: skip
        token = csrf_of(soc.get("/").text)
        step = soc.post("/dashboard/recommendations/rec-1/confirm", data={"csrf": token})
        assert step.status_code == 200 and "遮断の確定" in step.text and "conn-r" in step.text and "op-b" in step.text
        assert backend.calls("connection", "POST", "/block-recommendations/rec-1/confirm") == []
        done = soc.post("/dashboard/recommendations/rec-1/confirm", data={"csrf": token, "confirmed": "yes", "note": "確認済み"})
        assert done.status_code == 303 and done.headers["location"].startswith("/connections/conn-r?notice=")
        assert backend.calls("connection", "POST", "/block-recommendations/rec-1/confirm") == [({}, {"note": "確認済み"})]

    def test_a_forged_form_changes_nothing_and_a_decided_recommendation_says_so(self, world):
        soc, backend, _ = world
        assert soc.post("/dashboard/recommendations/rec-1/reject", data={"csrf": "forged"}).status_code == 403
        assert backend.calls("connection", "POST", "/block-recommendations/rec-1/reject") == []
        token = csrf_of(soc.get("/").text)
        gone = soc.post("/dashboard/recommendations/rec-9/confirm", data={"csrf": token})
        assert gone.status_code == 404 and "すでに判断済み" in gone.text
        rejected = soc.post("/dashboard/recommendations/rec-1/reject", data={"csrf": token})
        assert rejected.status_code == 303 and len(backend.calls("connection", "POST", "/block-recommendations/rec-1/reject")) == 1


# ------------------------------------------------------------------------------------ the live feed


def test_the_feed_reads_without_javascript_newest_first(world):
    soc, _, _ = world
    feed = soc.app.state.feed
    for n, kind in enumerate(("IncidentOpened", "ConnectionBlocked")):
        feed.recent.append(FeedItem(id=f"e{n}", type=kind, time=NOW + timedelta(seconds=n), subject="s", operator_id="op-a",
                                    actor="policy", incident_id="inc-1", connection_id="conn-1" if n else None))  # fmt: skip
    html = soc.get("/").text
    listed = html[html.index('id="feed"'):]
    assert listed.index("ConnectionBlocked") < listed.index("IncidentOpened")
    assert 'href="/connections/conn-1"' in listed and 'href="/incidents/inc-1"' in listed
    assert (NOW + timedelta(seconds=1)).astimezone(timezone(timedelta(hours=9))).strftime("%H:%M:%S JST") in listed


def test_a_stream_item_is_one_line_of_html_and_names_the_sections_it_concerns():
    item = FeedItem(id="e1", type="ConnectionBlocked", time=NOW, subject="conn-1", operator_id="op-a", actor="policy",
                    incident_id="inc-1", connection_id="conn-1")  # fmt: skip
    html = dashboard.feed_item_html(item, "en")
    assert "\n" not in html and html.startswith("<li") and "Connection blocked" in html and 'href="/connections/conn-1"' in html
    assert dashboard.signal_of(item) == "connections"
    assert dashboard.signal_of(FeedItem(id="e2", type="IncidentOpened", time=NOW, subject="i", operator_id=None, actor=None,
                                        incident_id="i", connection_id=None)) == "incidents"  # fmt: skip


@contextlib.contextmanager
def served(app: Any) -> Iterator[tuple[str, asyncio.AbstractEventLoop]]:
    """The app behind a real HTTP server on a free loopback port (no lifespan: the feed is fed by the test)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning"))
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=lambda: loop.run_until_complete(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", loop
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        sock.close()


def test_the_stream_sends_new_events_as_they_come_and_too_many_followers_get_503(world):
    soc, _, _ = world
    app = soc.app
    feed = app.state.feed
    item = FeedItem(id="e1", type="ConnectionBlocked", time=NOW, subject="conn-1", operator_id="op-a", actor="policy",
                    incident_id="inc-1", connection_id="conn-1")  # fmt: skip
    with served(app) as (url, loop), httpx.Client(base_url=url, cookies={COOKIE: soc.cookies.get(COOKIE)}, timeout=20) as client:
        with client.stream("GET", "/live/events") as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            assert len(feed._followers) == 1  # followed before the answer began
            loop.call_soon_threadsafe(feed.publish, item)
            lines: list[str] = []
            for line in response.iter_lines():
                lines.append(line)
                if line == "data: ConnectionBlocked":
                    break
        assert "event: feed" in lines and "id: e1" in lines
        assert any(line.startswith("data: <li") and "conn-1" in line and "接続を遮断" in line for line in lines)
        assert "event: connections" in lines
    feed.max_followers = 0
    refused = soc.get("/live/events")
    assert refused.status_code == 503 and refused.headers["retry-after"]


# ------------------------------------------------------------------------------------ declaring a vulnerability

DECLARATION = {
    "title": "TK-100 ファームウェアの認証回避", "severity": "critical", "asset_kind": "special_meter", "maker": "東海計器",
    "model": "TK-100", "firmware": ">=2.1,<2.3", "smart_meter_ids": "", "description": "詳細は別紙", "tlp": "AMBER",
}  # fmt: skip


class TestDeclaringAVulnerability:
    def test_the_soc_sees_the_count_per_operator_before_declaring_and_lands_on_the_incident(self, world):
        soc, backend, _ = world
        backend.reach = {"connections": 5, "operators": 2, "policy": "auto", "complete": True,
                         "by_operator": [{"operator_id": "op-a", "connections": 3}, {"operator_id": "op-b", "connections": 2}]}  # fmt: skip
        form = soc.get("/vulnerabilities/new")
        assert form.status_code == 200 and 'for="firmware"' in form.text
        token = csrf_of(form.text)
        preview = soc.post("/vulnerabilities/new", data={"csrf": token, **DECLARATION})
        assert preview.status_code == 200
        shown = text(preview.text)
        assert "2 事業者の 5 接続" in shown and "すぐに遮断されます" in shown
        assert re.search(r"op-a 3 .*op-b 2", shown)
        (query, _), = backend.calls("connection", "GET", "/connections/matching")
        assert query == {"asset_kind": ["special_meter"], "maker": ["東海計器"], "model": ["TK-100"], "firmware": [">=2.1,<2.3"]}
        assert backend.calls("incident", "POST", "/vulnerabilities") == []  # nothing declared before the confirmation
        hidden = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', preview.text))
        assert hidden["confirmed"] == "yes" and hidden["firmware"] == "&gt;=2.1,&lt;2.3"
        declared = soc.post("/vulnerabilities/new", data={"csrf": token, **DECLARATION, "confirmed": "yes", "declare": "1"})
        assert declared.status_code == 303 and declared.headers["location"].startswith("/incidents/inc-vuln-1?notice=")
        (_, body), = backend.calls("incident", "POST", "/vulnerabilities")
        assert body == {"title": DECLARATION["title"], "severity": "critical", "asset_kind": "special_meter", "maker": "東海計器",
                        "model": "TK-100", "firmware": ">=2.1,<2.3", "smart_meter_ids": [], "description": "詳細は別紙", "tlp": "AMBER"}  # fmt: skip

    def test_input_errors_keep_the_input_and_say_what_to_fix(self, world):
        soc, backend, _ = world
        token = csrf_of(soc.get("/vulnerabilities/new").text)
        wrong = soc.post("/vulnerabilities/new", data={"csrf": token, **DECLARATION, "title": "", "firmware": "1.0,2.0"})
        assert wrong.status_code == 422
        assert "件名を入力してください" in wrong.text and "ファームウェアの指定を読み取れません" in wrong.text
        assert 'value="東海計器"' in wrong.text and 'value="1.0,2.0"' in wrong.text
        assert backend.requests == []
        backend.refuse[("incident", "/vulnerabilities")] = (422, "smart_meter_ids: too many")
        refused = soc.post("/vulnerabilities/new", data={"csrf": token, **DECLARATION, "confirmed": "yes"})
        assert refused.status_code == 422 and "too many" in refused.text and 'value="TK-100"' in refused.text
        edit = soc.post("/vulnerabilities/new", data={"csrf": token, **DECLARATION, "confirmed": "yes", "edit": "1"})
        assert edit.status_code == 200 and 'action="/vulnerabilities/new"' in edit.text and 'value="TK-100"' in edit.text

    def test_utility_side_meters_are_counted_and_only_the_soc_may_declare(self, world):
        soc, backend, as_role = world
        token = csrf_of(soc.get("/vulnerabilities/new").text)
        meters = {**DECLARATION, "asset_kind": "smart_meter", "smart_meter_ids": "SM-1\nSM-2, SM-2"}
        soc.post("/vulnerabilities/new", data={"csrf": token, **meters})
        (query, _), = backend.calls("connection", "GET", "/connections/matching")
        assert query["smart_meter_ids"] == ["SM-1", "SM-2"]
        desk = as_role("utility_desk")
        assert desk.get("/vulnerabilities/new").status_code == 403
        desk_token = csrf_of(desk.get("/").text)
        assert desk.post("/vulnerabilities/new", data={"csrf": desk_token, **DECLARATION, "confirmed": "yes"}).status_code == 403
        assert backend.calls("incident", "POST", "/vulnerabilities") == []
