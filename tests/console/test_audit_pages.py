"""The audit and operators pages without a broker: the console app in-process, the services answered through
``httpx.MockTransport`` by the real things behind them — a real audit log and ``AuditService`` (its checkpoint,
verification and entries), the connection service's ``OperatorsPublic`` model and an ``Operator`` aggregate's
compliance standing, contacts as the notification projection keeps them — so the shapes cannot drift."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from fastapi.testclient import TestClient

from services.audit.adapters.memory import MemoryCheckpointStore
from services.audit.application.service import AuditService
from services.audit.bootstrap import build_service
from services.audit.config import AuditSettings
from services.audit.domain.entries import EntryFilter
from services.audit.domain.verifier import verify_checkpoint
from services.connection.domain.operator import Operator
from services.connection.entrypoints.schemas import Created, OperatorPublic, OperatorsPublic
from services.connection.projections.standing import standing
from services.console.api import Services
from services.console.bootstrap import build_app
from services.console.config import ConsoleSettings
from services.notification.domain.contacts import CONTACT_FIELDS
from shared.auth import decode_token
from shared.config import Settings
from shared.events.contact import ContactRegistered
from shared.events.values import Actor
from shared.topics import CONNECTION_EVENTS, INCIDENT_EVENTS
from tests.factories import FakeClock, TEST_SECRET, connection_registered, incident_opened, make_settings, operator_onboarded
from tests.services.audit.helpers import records_of

TODAY = date(2026, 12, 7)
SOC = Actor(kind="person", id="soc-analyst-1", role="utility_soc")


@dataclass
class Backends:
    """What the services hold and what the console asked of them."""

    audit: AuditService
    settings: Settings
    operators: dict[str, Operator] = field(default_factory=dict)
    contacts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    asked: list[httpx.Request] = field(default_factory=list)
    contacts_down: bool = False

    def onboard(self, operator_id: str, name: str, agreement_date: date) -> Operator:
        found = Operator(operator_id)
        found.onboard(name=name, agreement_date=agreement_date)
        found.version = 1
        self.operators[operator_id] = found
        return found

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.asked.append(request)
        principal = decode_token(self.settings, request.headers["authorization"].removeprefix("Bearer "))
        port, path, params = request.url.port, unquote(request.url.path), request.url.params
        service = {self.settings.port_of(s, 0): s for s in ("incident", "connection", "notification", "audit")}[port]
        if service == "audit":
            return await self._audit(principal, path, params)
        if service == "connection":
            return self._connection(request, path, params)
        if service == "notification" and (m := re.fullmatch(r"/operators/([^/]+)/contacts", path)):
            if self.contacts_down:
                return httpx.Response(503, json={"detail": "the notification service is rebalancing"})
            return httpx.Response(200, json={"operator_id": m[1], "contacts": self.contacts.get(m[1], [])})
        return httpx.Response(404, json={"detail": f"no route {path}"})

    async def _audit(self, principal: Any, path: str, params: httpx.QueryParams) -> httpx.Response:
        if path == "/audit/checkpoints/latest":
            return httpx.Response(200, json={"checkpoint": self.audit.checkpoint_at(None), "public_key": self.audit.public_key})
        if path == "/audit/verify":
            return httpx.Response(200, json=await self.audit.verify())
        if path == "/audit/entries":
            when = lambda name: datetime.fromisoformat(params[name]) if name in params else None  # noqa: E731
            query = EntryFilter(*(params.get(n) for n in ("subject", "operator_id", "type", "actor")), when("since"), when("until"))
            page = self.audit.entries(query, principal, limit=int(params.get("limit", 100)), start=int(params.get("start", 0)))
            return httpx.Response(200, json=page)
        return httpx.Response(404, json={"detail": "not found"})

    def _connection(self, request: httpx.Request, path: str, params: httpx.QueryParams) -> httpx.Response:
        if path == "/operators" and request.method == "GET":
            rows = [OperatorPublic(operator_id=o.id, name=o.name, agreement_date=o.agreement_date, version=o.version)
                    for o in sorted(self.operators.values(), key=lambda o: o.id)]  # fmt: skip
            offset, limit = int(params.get("offset", 0)), int(params.get("limit", 100))
            more = offset + limit < len(rows)
            page = OperatorsPublic(items=rows[offset:offset + limit], total=len(rows), offset=offset, limit=limit,
                                   next_offset=offset + limit if more else None)  # fmt: skip
            return httpx.Response(200, json=page.model_dump(mode="json"))
        if path == "/operators" and request.method == "POST":
            body = json.loads(request.content)
            if body["operator_id"] in self.operators:
                return httpx.Response(409, json={"detail": f"operator {body['operator_id']} is already onboarded"})
            self.onboard(body["operator_id"], body["name"], date.fromisoformat(body["agreement_date"]))
            return httpx.Response(201, json=Created(id=body["operator_id"], version=1).model_dump(mode="json"))
        m = re.fullmatch(r"/operators/([^/]+)/(compliance|status-requests)", path)
        found = self.operators.get(m[1]) if m else None
        if found is None:
            return httpx.Response(404, json={"detail": f"operator {m[1] if m else path} not found"})
        if m[2] == "compliance":
            return httpx.Response(200, json={"operator_id": found.id, "name": found.name, **standing(found, TODAY, within_days=30)})
        body = json.loads(request.content)
        found.request_status(request_id=f"req-{len(found.requests) + 1}", subject=body["subject"],
                             reply_by=date.fromisoformat(body["reply_by"]), decided_by=SOC, today=TODAY)  # fmt: skip
        return httpx.Response(201, json={"request_id": f"req-{len(found.requests)}", "operator_id": found.id})


@pytest.fixture
def backends(tmp_path) -> Backends:
    settings = Settings(jwt_secret=TEST_SECRET)
    audit = build_service(make_settings("127.0.0.1:9", "t.", tmp_path), AuditSettings(), checkpoints=MemoryCheckpointStore(),
                          clock=FakeClock())  # fmt: skip
    found = Backends(audit=audit, settings=settings)
    yield found
    audit.log.close()


def console(backends: Backends, *, page_size: int = 50) -> TestClient:
    services = Services(backends.settings, timeout=5, transport=httpx.MockTransport(backends))
    app = build_app(backends.settings, options=ConsoleSettings(console_page_size=page_size), services=services)
    return TestClient(app, base_url="http://127.0.0.1:8100", client=("127.0.0.1", 50000))


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "the page carries no form with a CSRF token"
    return match.group(1)


def signed_in(backends: Backends, role: str, operator_id: str = "", *, page_size: int = 50) -> TestClient:
    client = console(backends, page_size=page_size)
    form = client.get("/signin")
    answer = client.post("/signin", data={"csrf": csrf_of(form.text), "role": role, "operator_id": operator_id},
                         follow_redirects=False)  # fmt: skip
    assert answer.status_code == 303
    return client


def log_events(backends: Backends, operator_id: str) -> tuple[str, str]:
    """An onboarding, an incident and a connection of the operator in the audit log."""
    incident, connection = f"inc-{operator_id}", f"conn-{operator_id}"
    log = backends.audit.log
    for topic, subject, event in (("smguard.operator.events", operator_id, operator_onboarded(operator_id)),
                                  (INCIDENT_EVENTS, incident, incident_opened(incident, operator_id)),
                                  (CONNECTION_EVENTS, connection, connection_registered(connection, operator_id))):  # fmt: skip
        start = log.positions.get(f"{topic}/0", 0)
        log.append(records_of(topic, [(subject, event)], start=start, operator_id=operator_id))
    return incident, connection


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


class TestAudit:
    def test_verifying_says_no_tampering_with_the_root_and_names_the_first_bad_entry_once_bytes_change(self, backends):
        log_events(backends, "op-a")
        client = signed_in(backends, "auditor")
        home = client.get("/audit")
        assert home.status_code == 200 and "まだ検証していません" in home.text
        assert not [r for r in backends.asked if r.url.path == "/audit/verify"]  # verifying is asked for, not done on every visit

        verified = client.get("/audit/verify")
        report = backends.audit.log  # the same log the service recomputed
        assert verified.status_code == 200
        assert "改ざんなし" in verified.text and "改ざんを検出" not in verified.text
        root = re.search(r'data-testid="verified-root">([0-9a-f]+)<', verified.text)
        assert root and root[1] == report.logs.root()

        backends.audit.checkpoint()
        backends.audit.log.db.execute("UPDATE entries SET value = CAST(value || ' ' AS BLOB) WHERE topic = ?", (INCIDENT_EVENTS,))
        tampered = text_of(client.get("/audit/verify").text)
        assert "改ざんを検出しました" in tampered and "改ざんなし" not in tampered
        assert f"最初に一致しないエントリ: {INCIDENT_EVENTS}/0#0" in tampered
        english = signed_in(backends, "utility_desk")
        english.get("/lang/en")
        assert "Tampering detected" in english.get("/audit/verify").text

    def test_the_checkpoint_is_shown_in_jst_and_downloads_as_the_file_smguard_verify_checks(self, backends):
        log_events(backends, "op-b")
        client = signed_in(backends, "auditor")
        page = text_of(client.get("/audit").text)
        latest = backends.audit.checkpoint_at(None)
        assert latest["root"] in page and latest["signature"] in page
        assert "2026-11-26 18:00:00 JST" in page  # signed at 09:00 UTC (the fake clock)
        download = client.get("/audit/checkpoint.json")
        assert download.status_code == 200 and download.headers["content-type"] == "application/json"
        assert download.headers["content-disposition"] == f'attachment; filename="smguard-checkpoint-{latest["seq"]}.json"'
        kept = json.loads(download.content)  # what `smguard verify --checkpoint FILE` reads
        assert kept["checkpoint"]["size"] == 3 and kept["checkpoint"]["root"] == latest["root"]
        verify_checkpoint(kept["checkpoint"], kept["public_key"])  # the CLI's own check: signed by that key

    def test_entries_are_searched_with_jst_dates_and_an_incident_subject_links_to_the_incident(self, backends):
        incident, _ = log_events(backends, "op-c")
        log_events(backends, "op-other")
        client = signed_in(backends, "utility_soc")
        found = client.get("/audit", params={"operator_id": "op-c", "since": "2026-04-01T18:00", "until": "2099-12-31 23:59"})
        asked = [r for r in backends.asked if r.url.path == "/audit/entries"][-1].url.params
        assert asked["operator_id"] == "op-c"
        assert (asked["since"], asked["until"]) == ("2026-04-01T18:00:00+09:00", "2099-12-31T23:59:00+09:00")
        page = text_of(found.text)
        assert "OperatorOnboarded" in page and "IncidentOpened" in page and "op-other" not in page
        assert f'href="/incidents/{incident}"' in found.text and f'href="/incidents/{incident}/dossier"' in found.text
        assert 'href="/incidents/conn-op-c"' not in found.text  # a connection is not an incident

        before = len(backends.asked)
        wrong = client.get("/audit", params={"since": "yesterday"})
        assert wrong.status_code == 422 and "日時の形式が正しくありません" in wrong.text and 'value="yesterday"' in wrong.text
        assert not [r for r in backends.asked[before:] if r.url.path == "/audit/entries"]  # nothing asked with a wrong date
        backwards = client.get("/audit", params={"since": "2026-12-08T00:00", "until": "2026-12-07T00:00"})
        assert backwards.status_code == 422 and "開始日時が終了日時より後" in backwards.text

    def test_entries_come_a_bounded_page_at_a_time(self, backends):
        for n in range(3):
            log_events(backends, f"op-p{n}")  # nine entries
        client = signed_in(backends, "auditor", page_size=5)
        first = client.get("/audit")
        assert [r for r in backends.asked if r.url.path == "/audit/entries"][-1].url.params["limit"] == "5"
        assert "1–5 件目" in first.text
        following = re.search(r'href="([^"]+)" rel="next"', first.text)
        assert following
        second = client.get(following[1].replace("&amp;", "&"))
        assert "6–9 件目" in second.text and 'rel="next"' not in second.text and 'rel="prev"' in second.text
        assert client.get("/audit", params={"type": "NoSuchEvent"}).text.count("条件に合うエントリはありません") == 1

    def test_the_dossier_input_goes_to_the_incidents_dossier_page(self, backends):
        client = signed_in(backends, "auditor")
        answer = client.get("/audit/dossier", params={"incident_id": " inc-42 "}, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == "/incidents/inc-42/dossier"
        japanese = client.get("/audit/dossier", params={"incident_id": "インシデント-1"}, follow_redirects=False)
        assert japanese.headers["location"] == "/incidents/%E3%82%A4%E3%83%B3%E3%82%B7%E3%83%87%E3%83%B3%E3%83%88-1/dossier"
        empty = client.get("/audit/dossier", params={"incident_id": ""})
        assert empty.status_code == 200 and "インシデントIDを入力してください" in empty.text
        assert "使えない文字" in client.get("/audit/dossier", params={"incident_id": "../x"}).text


class TestOperators:
    def test_the_list_is_filtered_sorted_and_paged(self, backends):
        for n in range(7):
            backends.onboard(f"op-{n:02d}", f"事業者{'ABCDEFG'[6 - n]}", date(2025, 1 + n, 1))
        client = signed_in(backends, "utility_desk", page_size=5)
        first = text_of(client.get("/operators").text)
        assert "op-00" in first and "op-04" in first and "op-05" not in first and "7 事業者" in first
        assert "op-05" in text_of(client.get("/operators", params={"page": 2}).text)
        by_name = client.get("/operators", params={"sort": "name"}).text
        assert by_name.index("op-06") < by_name.index("op-05") and "op-00" not in by_name  # 事業者A…E on page 1
        by_date = client.get("/operators", params={"sort": "-agreement_date"}).text
        assert by_date.index("2025-07-01") < by_date.index("2025-03-01")
        filtered = text_of(client.get("/operators", params={"q": "事業者c"}).text)
        assert "op-04" in filtered and "op-03" not in filtered and "1 事業者" in filtered
        assert "条件に合う事業者はいません" in client.get("/operators", params={"q": "none"}).text
        assert 'action="/operators" class="stack"' not in client.get("/operators").text  # the desk onboards no one

    def test_the_soc_onboards_an_operator_and_a_refusal_keeps_the_input(self, backends):
        client = signed_in(backends, "utility_soc")
        empty = client.get("/operators")
        assert "まだ事業者が登録されていません" in empty.text
        token = csrf_of(empty.text)
        form = {"csrf": token, "operator_id": "op-new", "name": "東海スマートエナジー株式会社", "agreement_date": "2026-04-01"}
        done = client.post("/operators", data=form, follow_redirects=False)
        assert done.status_code == 303 and done.headers["location"].startswith("/operators/op-new?notice=")
        posted = [r for r in backends.asked if r.method == "POST"][-1]
        assert json.loads(posted.content) == {"operator_id": "op-new", "name": "東海スマートエナジー株式会社", "agreement_date": "2026-04-01"}
        shown = client.get(done.headers["location"])
        assert "事業者を登録しました" in shown.text and "東海スマートエナジー株式会社" in shown.text
        again = client.post("/operators", data=form)
        assert again.status_code == 409 and "already onboarded" in again.text
        assert 'value="東海スマートエナジー株式会社"' in again.text
        missing = client.post("/operators", data={**form, "name": ""})
        assert missing.status_code == 422 and "必須項目です" in missing.text

    def test_an_operators_compliance_and_contacts_and_the_socs_status_request(self, backends):
        found = backends.onboard("op-x", "三河エネルギー", date(2025, 6, 1))
        contact = ContactRegistered(operator_id="op-x", kind="security_incident", name="佐藤 花子", organisation="三河エネルギー",
                                    email="csirt@mikawa.example.jp", phone="0564-00-0000")  # fmt: skip
        backends.contacts["op-x"] = [{**{n: getattr(contact, n) for n in CONTACT_FIELDS}, "kind": contact.kind,
                                      "updated_at": "2026-12-01T00:30:00+00:00", "version": 1}]  # fmt: skip
        client = signed_in(backends, "utility_soc")
        page = text_of(client.get("/operators/op-x").text)
        assert "リスク評価(脆弱性調査など)" in page and "期限超過" in page  # agreed 2025-06-01: due 2026-06-01, overdue
        assert "189 日超過" in page
        assert "佐藤 花子" in page and "csirt@mikawa.example.jp" in page and "2026-12-01 09:30 JST" in page
        token = csrf_of(client.get("/operators/op-x").text)
        asked = client.post("/operators/op-x/status-requests", data={"csrf": token, "subject": "年次の運用状況をご提示ください",
                                                                     "reply_by": "2026-12-25"}, follow_redirects=False)  # fmt: skip
        assert asked.status_code == 303
        assert [r.subject for r in found.open_requests()] == ["年次の運用状況をご提示ください"]
        shown = text_of(client.get(asked.headers["location"]).text)
        assert "状況報告を依頼しました" in shown and "年次の運用状況をご提示ください" in shown and "2026-12-25" in shown
        bad = client.post("/operators/op-x/status-requests", data={"csrf": token, "subject": "x", "reply_by": "25/12"})
        assert bad.status_code == 422 and "日付の形式" in bad.text and ">x</textarea>" in bad.text

        backends.contacts_down = True
        desk = signed_in(backends, "auditor")
        degraded = desk.get("/operators/op-x")
        assert degraded.status_code == 200 and "連絡先を取得できませんでした" in degraded.text and "rebalancing" in degraded.text
        assert "状況報告を依頼する" not in degraded.text  # only the SOC asks
        assert desk.get("/operators/op-unknown").status_code == 404


@pytest.mark.parametrize("path", ["/audit", "/audit/verify", "/audit/checkpoint.json", "/audit/dossier?incident_id=i",
                                  "/operators", "/operators/op-o"])  # fmt: skip
def test_an_operator_gets_the_403_page_and_nothing_is_asked_of_a_service(backends, path):
    client = signed_in(backends, "operator", "op-o")
    answer = client.get(path)
    assert answer.status_code == 403 and "この操作をする権限がありません" in answer.text
    assert backends.asked == []


def test_only_the_soc_may_post_the_operators_forms(backends):
    backends.onboard("op-y", "尾張電力サービス", date(2025, 6, 1))
    for role in ("utility_desk", "auditor"):
        client = signed_in(backends, role)
        token = csrf_of(client.get("/operators").text)
        assert client.post("/operators", data={"csrf": token, "operator_id": "op-z", "name": "n", "agreement_date": "2026-01-01"}).status_code == 403
        assert client.post("/operators/op-y/status-requests", data={"csrf": token, "subject": "s", "reply_by": "2026-12-20"}).status_code == 403
    assert not [r for r in backends.asked if r.method == "POST"]
