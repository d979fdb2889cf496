"""The incidents pages without a broker: the console app with the services answered by a stand-in transport.

The answers are built by the services' own code — the incident service's fold and reader rules
(``projections``), the notification view's fold, the connection service's response model, the audit
service's Markdown — so their shapes cannot drift from what the real services send.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

import httpx
import pytest
from fastapi.testclient import TestClient

from shared.config import Settings
from shared.envelope import Envelope
from shared.events.incident import (
    CauseReport,
    ImpactLine,
    IncidentNoteAttached,
    InitialReport,
    ReportFiled,
)
from shared.events.notification import NotificationAcknowledged, NotificationDelivered, NotificationQueued, Recipient
from shared.events.values import Actor
from shared.principal import Principal
from services.audit.domain.dossier_md import render as dossier_markdown
from services.connection.entrypoints.schemas import ConnectionPublic
from services.console.api import Services
from services.console.bootstrap import build_app
from services.console.config import ConsoleSettings
from services.console.sessions import COOKIE
from services.incident.entrypoints.schemas import IncidentWritten, NoteWritten, ReportWritten
from services.incident.projections.incidents import apply
from services.incident.projections.queries import for_reader, page, summary
from services.notification.projections.views import _changed, _queued
from tests.factories import TEST_SECRET, incident_opened

OP, INC, CONN = "op-tokai", "inc-1", "conn-1"
T0 = datetime(2026, 4, 1, 9, 5, tzinfo=timezone.utc)
INITIAL_1 = InitialReport(event="無線端末の紛失", location="名古屋営業所", impacts=[ImpactLine(target="特例計量器 SP-1", impact="通信停止の可能性")],
                          response_plan="認証情報を失効させる")  # fmt: skip
INITIAL_2 = INITIAL_1.model_copy(update={"response_plan": "全端末の認証情報を失効させる"})
CAUSE = CauseReport(cause="持ち出し管理の不備", countermeasure="端末の遠隔ロック", countermeasure_plan="4月中に全端末へ適用",
                    recurrence_prevention="持ち出し台帳の運用")  # fmt: skip


def story(*, cause: bool = True) -> list[Envelope]:
    """An operator's incident: opened, two initial revisions, a cause report, a note — as the incident service wrote them."""
    events: list[tuple[Any, str | None]] = [
        (incident_opened(INC, OP, title="無線端末の紛失(名古屋)", category="terminal_loss", tlp="RED", opened_by="operator",
                         affected_assets=[{"kind": "wireless_terminal", "id": "WT-001", "side": "operator"},
                                          {"kind": "hes", "id": "HES-1", "side": "utility"}]), "console:operator:op-tokai"),  # fmt: skip
        (ReportFiled(incident_id=INC, part="initial", revision=1, filed_by="operator", direction="operator_to_utility", initial=INITIAL_1), "op-staff"),
        (ReportFiled(incident_id=INC, part="initial", revision=2, filed_by="utility", direction="utility_to_operator", initial=INITIAL_2), "soc-1"),
        (IncidentNoteAttached(incident_id=INC, text="端末は倉庫で発見。", attached_by="operator",
                              author=Actor(kind="person", id="op-staff", role="operator")), "op-staff"),  # fmt: skip
    ]
    if cause:
        events.append((ReportFiled(incident_id=INC, part="cause", revision=1, filed_by="operator", direction="operator_to_utility", cause=CAUSE), "op-staff"))
    return [Envelope(event=e, subject=INC, sequence=n, source="smguard/incident", time=T0 + timedelta(minutes=n), operator_id=OP, actor=actor)
            for n, (e, actor) in enumerate(events, start=1)]  # fmt: skip


def incident_view(principal: Principal, *, cause: bool = True) -> dict[str, Any]:
    """GET /incidents/{id} as the incident service answers it (its fold, then its reader's copy)."""
    view = None
    for envelope in story(cause=cause):
        view = apply(view, envelope)
    blocks = [{"connection_id": CONN, "operator_id": OP}]
    return json.loads(json.dumps(for_reader(view, principal, operators=[OP], blocks=blocks, blocked=1)))


def notification(*, acknowledged: bool) -> dict[str, Any]:
    """A notification about the incident to the utility desk, as the notification service's view folds it."""
    queued = NotificationQueued(
        notification_id="n-1", domain_event_id="e-1", domain_event_type="ReportFiled", operator_id=OP, subject_id=INC,
        route="operator_to_utility", channel="email", recipient=Recipient(kind="utility_desk", name="託送運営グループ"),
        title="報告の提出",
    )  # fmt: skip
    view = _queued(Envelope(event=queued, subject="n-1", sequence=1, source="smguard/notification", time=T0 + timedelta(minutes=2)), queued)
    _changed(view, Envelope(event=NotificationDelivered(notification_id="n-1", attempt=1, delivered_at=T0 + timedelta(minutes=3)),
                            subject="n-1", sequence=2, source="smguard/notification", time=T0 + timedelta(minutes=3)))  # fmt: skip
    if acknowledged:
        _changed(view, Envelope(event=NotificationAcknowledged(notification_id="n-1", acknowledged_by="desk-1"), subject="n-1",
                                sequence=3, source="smguard/notification", time=T0 + timedelta(minutes=4)))  # fmt: skip
    return view


def connection() -> dict[str, Any]:
    return ConnectionPublic(
        id=CONN, operator_id=OP, kind="special_meter", maker="東海計器", model="TK-100", firmware="2.1.0", smart_meter_ids=["SM-1"],
        status="blocked", blocking_incidents=[{"incident_id": INC, "reason": "unauthorized_access", "decided_by": {"kind": "person", "id": "soc-1"},
                                               "blocked_at": T0 + timedelta(minutes=1, seconds=30), "request_id": "r-1"}],
        approvals={"utility": None, "operator": None}, enforcement="enforced",
        enforcement_requests=[{"request_id": "r-1", "action": "block", "state": "enforced", "incident_id": INC, "requested_at": T0 + timedelta(minutes=1, seconds=31),
                               "enforced_at": T0 + timedelta(minutes=1, seconds=40), "attempts": 1, "last_error": None}],
        compromised=False, compromised_by=[], secrets={"auth_id": "AU…78"}, version=3, registered_at=T0, updated_at=T0,
    ).model_dump(mode="json")  # fmt: skip


class Stand:
    """The four services as a stand-in transport: routes answer, and every request is kept for the test to read."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Callable[[httpx.Request], httpx.Response]] = {}
        self.requests: list[httpx.Request] = []

    def on(self, method: str, path: str, answer: Any, status: int = 200) -> None:
        self.routes[(method, path)] = answer if callable(answer) else (lambda _r: httpx.Response(status, json=answer))

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        handler = self.routes.get((request.method, request.url.path))
        return handler(request) if handler else httpx.Response(404, json={"detail": f"incident {request.url.path} not found"})

    def sent(self, method: str, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method and r.url.path == path]


@pytest.fixture
def stand() -> Stand:
    return Stand()


@pytest.fixture
def console(stand: Stand) -> Callable[..., TestClient]:
    """``console("operator", "op-tokai")``: a client of the console app signed in as that role."""
    settings = Settings(jwt_secret=TEST_SECRET)
    app = build_app(settings, options=ConsoleSettings(), services=Services(settings, timeout=5, transport=httpx.MockTransport(stand)))

    def signed_in(role: str, operator_id: str | None = None, lang: str = "ja") -> TestClient:
        principal = Principal(sub=f"console:{role}", role=role, operator_id=operator_id)
        session = app.state.sessions.open("token-" + role, principal, token_expires=None, lang=lang)
        client = TestClient(app, follow_redirects=False)
        client.cookies.set(COOKIE, session.id)
        client.csrf = session.csrf  # type: ignore[attr-defined]
        return client

    return signed_in


def an_incident(stand: Stand, principal: Principal, *, cause: bool = True, acknowledged: bool = False) -> None:
    stand.on("GET", f"/incidents/{INC}", incident_view(principal, cause=cause))
    stand.on("GET", f"/connections/{CONN}", connection())
    stand.on("GET", "/notifications", {"items": [notification(acknowledged=acknowledged)], "total": 1, "limit": 200, "offset": 0})


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


class TestTheList:
    def rows(self, stand: Stand) -> None:
        views = []
        for n, (title, severity, status) in enumerate([("端末紛失", "low", "open"), ("不正アクセス", "critical", "open"), ("異常通信", "medium", "cleared")]):
            view = apply(None, Envelope(event=incident_opened(f"inc-{n}", OP, title=title, severity=severity), subject=f"inc-{n}", sequence=1,
                                        source="smguard/incident", time=T0 + timedelta(hours=n)))  # fmt: skip
            view["status"] = status
            views.append(summary(view, operators=[OP]))
        stand.on("GET", "/incidents", page(views, total=3, limit=200, offset=0))

    def test_filters_go_to_the_service_text_is_matched_here_and_severity_sorts_by_gravity(self, console, stand) -> None:
        self.rows(stand)
        client = console("utility_soc")
        answer = client.get("/incidents", params={"status": "open", "severity": "critical", "operator_id": OP, "sort": "-severity"})
        assert answer.status_code == 200
        [sent] = stand.sent("GET", "/incidents")
        assert dict(sent.url.params) == {"status": "open", "severity": "critical", "operator_id": OP, "limit": "200", "offset": "0"}
        titles = re.findall(r'<a href="/incidents/inc-\d">([^<]+)</a>', answer.text)
        assert titles == ["不正アクセス", "異常通信", "端末紛失"]  # critical, medium, low: gravity, not the alphabet
        only = client.get("/incidents", params={"q": "紛失"})
        assert re.findall(r'<a href="/incidents/inc-\d">([^<]+)</a>', only.text) == ["端末紛失"]
        assert "2026-04-01 18:00 JST" in answer.text  # detection time in Japan time

    def test_an_operator_has_no_operator_filter_and_an_empty_list_says_what_to_do(self, console, stand) -> None:
        stand.on("GET", "/incidents", page([], total=0, limit=200, offset=0))
        answer = console("operator", OP).get("/incidents", params={"operator_id": "op-other"})
        assert "operator_id" not in dict(stand.sent("GET", "/incidents")[0].url.params)
        assert 'id="f-operator"' not in answer.text
        assert "条件に合うインシデントはありません" in answer.text and 'href="/incidents/new"' in answer.text


class TestReporting:
    def test_the_utility_reports_for_an_operator_in_japan_time_and_lands_on_the_new_incident(self, console, stand) -> None:
        stand.on("POST", "/incidents", IncidentWritten(id="inc-new", status="open", version=1).model_dump(), status=201)
        client = console("utility_soc")
        assert 'id="n-operator"' in client.get("/incidents/new").text
        form = {"csrf": client.csrf, "idem": "0123456789abcdef", "title": "HESの異常", "category": "security_incident", "severity": "high",
                "tlp": "AMBER", "detected_at": "2026-04-01T18:30", "operator_id": OP, "description": "",
                "asset_kind": ["hes", ""], "asset_id": ["HES-1", ""]}  # fmt: skip
        answer = client.post("/incidents/new", data=form)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/incidents/inc-new?notice=")
        [sent] = stand.sent("POST", "/incidents")
        body = json.loads(sent.content)
        assert datetime.fromisoformat(body["detected_at"]) == datetime(2026, 4, 1, 9, 30, tzinfo=timezone.utc)
        assert body["operator_id"] == OP and body["affected_assets"] == [{"kind": "hes", "id": "HES-1"}]
        assert sent.headers["Idempotency-Key"] == "0123456789abcdef"

    def test_a_refusal_is_shown_in_the_users_language_with_the_input_kept(self, console, stand) -> None:
        stand.on("POST", "/incidents", {"detail": "detected_at: may not be in the future"}, status=422)
        client = console("operator", OP)
        assert 'id="n-operator"' not in client.get("/incidents/new").text
        answer = client.post("/incidents/new", data={"csrf": client.csrf, "title": "未来の事象", "category": "other", "severity": "low",
                                                     "tlp": "GREEN", "detected_at": "2030-01-01T00:00", "operator_id": "op-other"})  # fmt: skip
        assert answer.status_code == 422
        assert "入力に誤りがあります" in answer.text and "may not be in the future" in answer.text
        assert 'value="未来の事象"' in answer.text
        assert "operator_id" not in json.loads(stand.sent("POST", "/incidents")[0].content)  # an operator reports for itself

    def test_the_auditor_may_not_report(self, console) -> None:
        assert console("auditor").get("/incidents/new").status_code == 403


class TestTheIncidentPage:
    def test_both_parts_side_by_side_latest_revision_first_with_the_older_kept(self, console, stand) -> None:
        an_incident(stand, Principal(sub="s", role="operator", operator_id=OP))
        answer = console("operator", OP).get(f"/incidents/{INC}")
        assert answer.status_code == 200
        side_by_side = answer.text.split('class="side-by-side"')[1].split("</section>")[0]
        initial, cause = side_by_side.split('id="report-cause"')
        assert "発生事象・対処計画" in initial and "要因・対処方法" in cause
        latest, older = initial.split("<details>")[0], initial.split("<details>")[1]
        assert "全端末の認証情報を失効させる" in latest and "第2版(2版中)" in text_of(latest)
        assert "以前の版 (1)" in older and "認証情報を失効させる" in older
        assert "持ち出し管理の不備" in cause and "端末の遠隔ロック" in cause

    def test_tlp_assets_with_their_side_and_a_timeline_of_every_step_in_japan_time(self, console, stand) -> None:
        an_incident(stand, Principal(sub="s", role="utility_soc"), acknowledged=True)
        answer = console("utility_soc").get(f"/incidents/{INC}")
        page_text = text_of(answer.text)
        assert "TLP:RED" in page_text
        assert "HES (hes) HES-1 一般送配電事業者" in page_text and "無線端末 (wireless_terminal) WT-001 利用事業者" in page_text
        timeline = re.findall(r'<li data-type="(\w+)"><time datetime="[^"]+">([^<]+)</time>', answer.text)
        assert [t for t, _ in timeline] == [
            "IncidentOpened", "ConnectionBlocked", "BlockRequested", "BlockEnforced", "ReportFiled", "NotificationQueued",
            "ReportFiled", "NotificationDelivered", "IncidentNoteAttached", "NotificationAcknowledged", "ReportFiled",
        ]  # fmt: skip
        assert timeline[0][1] == "2026-04-01 18:06 JST"
        assert "端末は倉庫で発見。" in answer.text and "受領確認済み" in answer.text

    def test_the_recipient_side_may_acknowledge_and_the_service_is_asked(self, console, stand) -> None:
        an_incident(stand, Principal(sub="s", role="utility_desk"))
        stand.on("POST", "/notifications/n-1/ack", {"id": "n-1", "status": "acknowledged", "acknowledged_by": "desk", "version": 3})
        desk = console("utility_desk")
        page_html = desk.get(f"/incidents/{INC}").text
        assert f'action="/incidents/{INC}/notifications/n-1/ack"' in page_html
        assert 'action="/incidents/inc-1/notes"' not in page_html and 'action="/incidents/inc-1/clear"' not in page_html  # the desk reads
        answer = desk.post(f"/incidents/{INC}/notifications/n-1/ack", data={"csrf": desk.csrf})
        assert answer.status_code == 303 and len(stand.sent("POST", "/notifications/n-1/ack")) == 1
        an_incident(stand, Principal(sub="s", role="operator", operator_id=OP))
        assert "/ack" not in console("operator", OP).get(f"/incidents/{INC}").text  # the sender side does not acknowledge

    def test_another_tenants_incident_is_the_not_found_page(self, console, stand) -> None:
        answer = console("operator", "op-other").get(f"/incidents/{INC}")
        assert answer.status_code == 404 and "見つかりません" in answer.text


class TestActions:
    def test_a_note_is_posted_with_the_forms_key_and_the_page_follows(self, console, stand) -> None:
        stand.on("POST", f"/incidents/{INC}/notes", NoteWritten(incident_id=INC, version=6).model_dump(), status=201)
        client = console("operator", OP)
        answer = client.post(f"/incidents/{INC}/notes", data={"csrf": client.csrf, "idem": "abcdef0123-note", "text": "SOCに連絡済み"})
        assert answer.status_code == 303 and answer.headers["location"].endswith("#notes")
        [sent] = stand.sent("POST", f"/incidents/{INC}/notes")
        assert json.loads(sent.content) == {"text": "SOCに連絡済み"} and sent.headers["Idempotency-Key"] == "abcdef0123-note"

    def test_a_form_without_the_csrf_token_sends_nothing(self, console, stand) -> None:
        answer = console("operator", OP).post(f"/incidents/{INC}/notes", data={"csrf": "forged", "text": "x"})
        assert answer.status_code == 403 and stand.requests == []

    def test_a_report_is_filed_with_its_impact_rows(self, console, stand) -> None:
        stand.on("POST", f"/incidents/{INC}/reports/initial", ReportWritten(revision=3, version=7).model_dump(), status=201)
        client = console("utility_soc")
        form = {"csrf": client.csrf, "event": "事象", "location": "場所", "response_plan": "計画",
                "impact_target": ["HES", "", "MDMS"], "impact_text": ["影響なし", "", "遅延"]}  # fmt: skip
        assert client.post(f"/incidents/{INC}/reports/initial", data=form).status_code == 303
        body = json.loads(stand.sent("POST", f"/incidents/{INC}/reports/initial")[0].content)
        assert body == {"event": "事象", "location": "場所", "response_plan": "計画",
                        "impacts": [{"target": "HES", "impact": "影響なし"}, {"target": "MDMS", "impact": "遅延"}]}  # fmt: skip

    def test_clearing_asks_first_and_a_409_before_the_cause_report_is_explained_with_the_summary_kept(self, console, stand) -> None:
        an_incident(stand, Principal(sub="s", role="utility_soc"), cause=False)
        stand.on("POST", f"/incidents/{INC}/clear",
                 {"detail": "the incident cannot be cleared before a cause report (要因・対処方法) is filed", "code": "conflict"}, status=409)  # fmt: skip
        client = console("utility_soc")
        assert "要因・対処方法がまだ提出されていないため" in client.get(f"/incidents/{INC}").text
        confirm = client.post(f"/incidents/{INC}/clear", data={"csrf": client.csrf, "summary": "端末を回収"})
        assert confirm.status_code == 200 and "解消を宣言しますか?" in confirm.text and stand.sent("POST", f"/incidents/{INC}/clear") == []
        refused = client.post(f"/incidents/{INC}/clear", data={"csrf": client.csrf, "summary": "端末を回収", "confirmed": "yes"})
        assert refused.status_code == 409
        assert "要因・対処方法(原因報告)が提出されるまで、インシデントは解消できません" in refused.text
        assert ">端末を回収</textarea>" in refused.text

    def test_in_english_the_refusal_is_english(self, console, stand) -> None:
        an_incident(stand, Principal(sub="s", role="utility_soc"), cause=False)
        stand.on("POST", f"/incidents/{INC}/notes", {"detail": "text: String should have at most 4000 characters"}, status=422)
        client = console("utility_soc", lang="en")
        refused = client.post(f"/incidents/{INC}/notes", data={"csrf": client.csrf, "text": "long"})
        assert refused.status_code == 422 and "Some input is not valid" in refused.text and ">long</textarea>" in refused.text


class TestTheDossier:
    def dossier(self) -> dict[str, Any]:
        entries = [{"type": e.type, "subject": e.subject, "topic": "smguard.incident.events", "time": e.time.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                    "actor": e.actor, "entry": f"smguard.incident.events/0#{e.sequence}", "data": e.event.model_dump(mode="json")}
                   for e in story()]  # fmt: skip
        summary = {"incident_id": INC, "title": "無線端末の紛失(名古屋)", "category": "terminal_loss", "severity": "high", "status": "open",
                   "opened_at": entries[0]["time"], "cleared_at": None, "operator_ids": [OP]}  # fmt: skip
        return {"summary": summary, "entries": entries, "generated_at": entries[-1]["time"]}

    def test_the_dossier_page_and_its_downloads(self, console, stand) -> None:
        dossier = self.dossier()

        def answer(request: httpx.Request) -> httpx.Response:
            if request.url.params.get("format") == "md":
                return httpx.Response(200, text=dossier_markdown(dossier), headers={"content-type": "text/markdown; charset=utf-8"})
            return httpx.Response(200, json=dossier)

        stand.on("GET", f"/audit/dossiers/{INC}", answer)
        client = console("auditor")
        page_html = client.get(f"/incidents/{INC}/dossier").text
        assert "無線端末の紛失(名古屋)" in page_html and "端末は倉庫で発見。" in page_html and "持ち出し管理の不備" in page_html
        md = client.get(f"/incidents/{INC}/dossier.md")
        assert md.headers["content-type"] == "text/markdown; charset=utf-8"
        assert md.headers["content-disposition"] == f'attachment; filename="incident-{INC}-dossier.md"'
        assert "# インシデント記録 / Incident dossier: 無線端末の紛失(名古屋)" in md.text and "## メモ / Notes" in md.text
        js = client.get(f"/incidents/{INC}/dossier.json")
        assert js.headers["content-disposition"] == f'attachment; filename="incident-{INC}-dossier.json"'
        assert js.json()["summary"]["incident_id"] == INC

    def test_a_dossier_the_audit_service_refuses_is_its_not_found_page(self, console) -> None:
        assert console("operator", "op-other").get(f"/incidents/{INC}/dossier.md").status_code == 404

