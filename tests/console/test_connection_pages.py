"""The connections pages and the operator portal without a broker: the console app in a TestClient, the services
answered by a fake transport with bodies made by the services' own response models (so the shapes cannot drift),
and every call the console makes recorded (what it sent, and that it sent nothing before a confirmation)."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable
from urllib.parse import urlparse

import httpx
import pytest
from fastapi.testclient import TestClient

from services.connection.domain.operator import Operator
from services.connection.entrypoints.schemas import BulkPublic, BulkRowPublic, ConnectionPublic, ConnectionsPublic
from services.connection.projections.standing import standing
from services.console.api import Services
from services.console.bootstrap import build_app
from services.console.sessions import COOKIE
from services.incident.projections.queries import SUMMARY_FIELDS
from shared.auth import decode_token, mint_token
from shared.config import Settings
from shared.events.values import Actor
from tests.factories import TEST_SECRET

SETTINGS = Settings(jwt_secret=TEST_SECRET)
NOW = datetime(2026, 12, 7, 3, 0, tzinfo=timezone.utc)
PASSWORD = "s3cret-パスワード-never-shown"
Answer = Callable[[httpx.Request], httpx.Response]


def connection(id: str = "conn-1", **fields: Any) -> dict[str, Any]:
    """A connection as ``GET /connections/{id}`` answers (validated by its response model)."""
    body = {
        "id": id, "operator_id": "op-1", "kind": "special_meter", "maker": "東海計器", "model": "SPM-100",
        "firmware": "2.1.0", "smart_meter_ids": ["SM-1"], "status": "active", "blocking_incidents": [],
        "approvals": {"utility": None, "operator": None}, "enforcement": "none", "enforcement_requests": [],
        "compromised": False, "compromised_by": [], "secrets": {"auth_id": "****01", "password": "********", "pairing_id": "****9"},
        "version": 1, "registered_at": NOW.isoformat(), "updated_at": NOW.isoformat(),
    } | fields  # fmt: skip
    return ConnectionPublic.model_validate(body).model_dump(mode="json")


def blocked(**fields: Any) -> dict[str, Any]:
    hold = {"incident_id": "inc-1", "reason": "unauthorized_access", "decided_by": {"kind": "person", "id": "soc-1", "role": "utility_soc"},
            "blocked_at": NOW.isoformat(), "request_id": "req-1"}  # fmt: skip
    return connection(status="blocked", blocking_incidents=[hold], enforcement="enforced", **fields)


def page_of(items: list[dict[str, Any]], *, total: int | None = None) -> dict[str, Any]:
    total = len(items) if total is None else total
    return ConnectionsPublic(items=items, total=total, offset=0, limit=500, next_offset=None).model_dump(mode="json")  # type: ignore[arg-type]


def incident(**fields: Any) -> dict[str, Any]:
    """A list item of ``GET /incidents``: the summary fields, report counts, overdue parts, due times."""
    base = {name: None for name in SUMMARY_FIELDS} | {
        "id": "inc-1", "status": "open", "category": "terminal_loss", "severity": "high", "title": "無線端末の紛失",
        "operator_id": "op-1", "detected_at": NOW.isoformat(), "reports": {"initial": 0, "cause": 0}, "overdue": [],
        "operator_ids": ["op-1"], "report_due": {"initial": (NOW + timedelta(hours=24)).isoformat(),
                                                 "cause": (NOW + timedelta(days=14)).isoformat()},
    }  # fmt: skip
    return base | fields


def compliance() -> dict[str, Any]:
    """``GET /operators/op-1/compliance`` as the service makes it, with one open status request."""
    operator = Operator("op-1")
    operator.onboard(name="東海スマートエナジー", agreement_date=date(2025, 1, 10))
    operator.request_status(request_id="req-9", subject="運用状況を示してください", reply_by=date(2026, 12, 20),
                            decided_by=Actor(kind="person", id="soc-1", role="utility_soc"), today=date(2026, 12, 7))  # fmt: skip
    return {"operator_id": "op-1", "name": "東海スマートエナジー", **standing(operator, date(2026, 12, 7), within_days=30)}


class Fake:
    """The four services: an answer per (method, service, path), and every request the console made."""

    def __init__(self) -> None:
        self.answers: dict[tuple[str, str, str], Answer] = {}
        self.calls: list[tuple[str, str, httpx.Request]] = []
        self.ports: dict[int, str] = {}

    def on(self, method: str, service: str, path: str, status: int = 200, body: Any = None) -> None:
        self.answers[(method, service, path)] = lambda _: httpx.Response(status, json=body)

    def sent(self, method: str, path: str) -> list[httpx.Request]:
        return [r for m, _, r in self.calls if m == method and r.url.path == path]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        service = self.ports[urlparse(str(request.url)).port or 0]
        self.calls.append((request.method, service, request))
        answer = self.answers.get((request.method, service, request.url.path))
        return answer(request) if answer else httpx.Response(404, json={"detail": f"{request.url.path} not found"})


@pytest.fixture
def fake() -> Fake:
    return Fake()


@pytest.fixture
def as_role(fake: Fake) -> Callable[..., TestClient]:
    """``as_role("operator", "op-1")``: a client of the console signed in as that role (its session's CSRF token in ``.csrf``)."""
    services = Services(SETTINGS, timeout=5, transport=httpx.MockTransport(fake))
    fake.ports = {urlparse(url).port: name for name, url in services.urls.items()}  # type: ignore[misc]
    app = build_app(SETTINGS, services=services)

    def client(role: str, operator_id: str | None = None) -> TestClient:
        token = mint_token(SETTINGS, role=role, operator_id=operator_id, sub=f"{role}-user")
        session = app.state.sessions.open(token, decode_token(SETTINGS, token), token_expires=None)
        signed = TestClient(app, follow_redirects=False)
        signed.cookies.set(COOKIE, session.id)
        signed.csrf = session.csrf  # type: ignore[attr-defined]
        return signed

    return client


class TestConnectionList:
    def test_filters_by_maker_and_model_sorts_by_meter_count_and_reads_one_bounded_page(self, fake, as_role) -> None:
        rows = [connection("conn-a", smart_meter_ids=[f"SM-{i}" for i in range(10)]),
                connection("conn-b", smart_meter_ids=["SM-1", "SM-2"]), connection("conn-c", maker="Other")]  # fmt: skip
        fake.on("GET", "connection", "/connections", body=page_of(rows))
        page = as_role("operator", "op-1").get("/connections", params={"maker": "東海", "sort": "meters", "status": "blocked"})
        assert page.status_code == 200
        assert page.text.index("conn-b") < page.text.index("conn-a") and "conn-c" not in page.text  # 2 before 10
        (asked,) = fake.sent("GET", "/connections")
        assert dict(asked.url.params) == {"status": "blocked", "limit": "500"}  # an operator's own, never another's filter

    def test_says_when_more_connections_match_than_it_read(self, fake, as_role) -> None:
        fake.on("GET", "connection", "/connections", body=page_of([connection()], total=1200))
        page = as_role("utility_desk").get("/connections")
        assert "1200" in page.text and "絞り込んでください" in page.text
        assert "接続を登録" not in page.text  # the desk registers nothing

    def test_an_empty_list_says_what_to_do_next(self, fake, as_role) -> None:
        fake.on("GET", "connection", "/connections", body=page_of([]))
        assert "接続を登録してください" in as_role("operator", "op-1").get("/connections").text


class TestRegister:
    def form(self, client: TestClient, **fields: str) -> dict[str, str]:
        return {"csrf": client.csrf, "kind": "special_meter", "maker": "東海計器", "model": "SPM-100", "firmware": "2.1.0",  # type: ignore[attr-defined]
                "smart_meter_ids": "SM-1\nSM-2, SM-3", "auth_id": "AUTH-777", "password": PASSWORD, "pairing_id": "PAIR-42"} | fields  # fmt: skip

    def test_the_form_registers_through_the_api_and_shows_the_new_connection(self, fake, as_role) -> None:
        fake.on("POST", "connection", "/connections", 201, {"id": "conn-new", "version": 1})
        client = as_role("operator", "op-1")
        answer = client.post("/connections/new", data=self.form(client))
        assert answer.status_code == 303 and answer.headers["location"].startswith("/connections/conn-new?notice=")
        (sent,) = fake.sent("POST", "/connections")
        assert json.loads(sent.content) == {
            "kind": "special_meter", "maker": "東海計器", "model": "SPM-100", "firmware": "2.1.0",
            "smart_meter_ids": ["SM-1", "SM-2", "SM-3"], "secrets": {"auth_id": "AUTH-777", "password": PASSWORD, "pairing_id": "PAIR-42"},
        }  # fmt: skip
        assert sent.headers["Idempotency-Key"]

    def test_a_refusal_shows_the_services_words_keeps_the_input_and_never_the_secrets(self, fake, as_role) -> None:
        fake.on("POST", "connection", "/connections", 422, {"detail": [{"loc": ["body", "firmware"], "msg": "String should have at least 1 character"}]})
        client = as_role("operator", "op-1")
        page = client.post("/connections/new", data=self.form(client, firmware=""))
        assert page.status_code == 422
        assert "入力に誤りがあります" in page.text and "firmware: String should have at least 1 character" in page.text
        assert 'value="東海計器"' in page.text
        assert all(secret not in page.text for secret in (PASSWORD, "AUTH-777", "PAIR-42"))
        assert page.text.count('type="password" autocomplete="off"') == 3

    def test_only_operators_and_the_soc_register(self, as_role) -> None:
        assert as_role("auditor").get("/connections/new").status_code == 403
        desk = as_role("utility_desk")
        assert desk.post("/connections/new", data={"csrf": desk.csrf}).status_code == 403  # type: ignore[attr-defined]


class TestConnectionPage:
    def test_each_side_sees_whose_approval_is_still_missing(self, fake, as_role) -> None:
        approved = {"kind": "person", "id": "soc-1", "role": "utility_soc", "note": ""}
        fake.on("GET", "connection", "/connections/conn-1",
                body=connection(status="awaiting_approval", approvals={"utility": approved, "operator": None}))  # fmt: skip
        page = as_role("operator", "op-1").get("/connections/conn-1")
        missing = page.text[page.text.index("再接続にまだ必要な承認"):]
        assert "事業者側" in missing[:300] and "電力会社側" not in missing[:300]
        assert "再接続を承認(事業者側)" in page.text  # the operator may give the missing approval
        assert "****01" in page.text and "認証情報を更新" in page.text  # hints only, and the rotate form
        soc = as_role("utility_soc").get("/connections/conn-1")
        assert "再接続を承認" not in soc.text  # the utility side has approved already

    def test_another_tenants_connection_is_the_not_found_page(self, fake, as_role) -> None:
        fake.on("GET", "connection", "/connections/conn-x", 404, {"detail": "connection conn-x not found"})
        page = as_role("operator", "op-2").get("/connections/conn-x")
        assert page.status_code == 404 and "見つかりません" in page.text

    def test_a_block_is_confirmed_first_and_nothing_is_sent_before(self, fake, as_role) -> None:
        fake.on("GET", "connection", "/connections/conn-1", body=connection())
        fake.on("POST", "connection", "/connections/conn-1/block", 201, {"id": "conn-1", "status": "blocked", "request_id": "r", "version": 2})
        soc = as_role("utility_soc")
        block = {"csrf": soc.csrf, "reason": "unauthorized_access", "incident_id": "inc-1", "note": "異常通信を検知", "key": "a" * 32}  # type: ignore[attr-defined]
        confirm = soc.post("/connections/conn-1/block", data=block)
        assert confirm.status_code == 200 and "遮断の確認" in confirm.text and 'name="confirm" value="yes"' in confirm.text
        assert fake.sent("POST", "/connections/conn-1/block") == []
        done = soc.post("/connections/conn-1/block", data=block | {"confirm": "yes"})
        assert done.status_code == 303
        (sent,) = fake.sent("POST", "/connections/conn-1/block")
        assert json.loads(sent.content) == {"reason": "unauthorized_access", "incident_id": "inc-1", "note": "異常通信を検知"}
        assert sent.headers["Idempotency-Key"] == "a" * 32

    def test_only_the_soc_blocks(self, as_role) -> None:
        operator = as_role("operator", "op-1")
        assert operator.post("/connections/conn-1/block", data={"csrf": operator.csrf, "confirm": "yes"}).status_code == 403  # type: ignore[attr-defined]

    def test_an_approval_refused_while_an_incident_blocks_says_so(self, fake, as_role) -> None:
        fake.on("GET", "connection", "/connections/conn-1", body=blocked())
        fake.on("POST", "connection", "/connections/conn-1/approvals", 409, {"detail": "incident inc-1 is not cleared"})
        soc = as_role("utility_soc")
        page = soc.post("/connections/conn-1/approve", data={"csrf": soc.csrf})  # type: ignore[attr-defined]
        assert page.status_code == 409
        assert "インシデントが解消されていない" in page.text and "incident inc-1 is not cleared" in page.text
        assert 'href="/incidents/inc-1"' in page.text

    def test_rotating_sends_the_new_secrets_and_a_refusal_never_echoes_them(self, fake, as_role) -> None:
        fake.on("GET", "connection", "/connections/conn-1", body=connection())
        fake.on("POST", "connection", "/connections/conn-1/secrets", 422, {"detail": [{"loc": ["body", "auth_id"], "msg": "too long"}]})
        client = as_role("operator", "op-1")
        page = client.post("/connections/conn-1/secrets", data={"csrf": client.csrf, "auth_id": "NEW-AUTH", "password": PASSWORD,  # type: ignore[attr-defined]
                                                                "pairing_id": "NEW-PAIR"})  # fmt: skip
        assert page.status_code == 422 and "auth_id: too long" in page.text
        assert all(secret not in page.text for secret in (PASSWORD, "NEW-AUTH", "NEW-PAIR"))
        (sent,) = fake.sent("POST", "/connections/conn-1/secrets")
        assert json.loads(sent.content) == {"auth_id": "NEW-AUTH", "password": PASSWORD, "pairing_id": "NEW-PAIR"}


class TestPortal:
    def overview(self, fake: Fake) -> None:
        fake.on("GET", "connection", "/connections", body=page_of([connection()]))
        fake.on("GET", "connection", "/operators/op-1/compliance", body=compliance())
        fake.on("GET", "notification", "/operators/op-1/contacts", body={"operator_id": "op-1", "contacts": []})

    def test_the_overview_shows_the_reports_owed_with_their_deadlines_in_jst(self, fake, as_role) -> None:
        self.overview(fake)
        fake.on("GET", "incident", "/incidents", body={"items": [incident(overdue=["initial"], reports={"initial": 0, "cause": 0})],
                                                       "total": 1, "limit": 200, "offset": 0, "next_offset": None})  # fmt: skip
        page = as_role("operator", "op-1").get("/portal")
        assert page.status_code == 200
        assert "無線端末の紛失" in page.text and "期限超過" in page.text
        assert "期限 2026-12-08 12:00 JST" in page.text  # initial: detection (12:00 JST) + 24 h
        assert "期限 2026-12-21 12:00 JST" in page.text  # cause: + 14 days
        assert "未回答の状況提示依頼: 1件" in page.text and "登録済みの連絡先: 0/2" in page.text

    def test_only_operators_open_the_portal(self, as_role) -> None:
        assert as_role("utility_soc").get("/portal").status_code == 403
        assert as_role("auditor").get("/portal/compliance").status_code == 403

    def test_a_contact_is_put_for_the_own_operator_and_a_refusal_keeps_the_input(self, fake, as_role) -> None:
        fake.on("GET", "notification", "/operators/op-1/contacts", body={"operator_id": "op-1", "contacts": []})
        fake.on("PUT", "notification", "/operators/op-1/contacts/security_incident", 422,
                {"detail": [{"loc": ["body", "email"], "msg": "value is not a valid email address"}]})  # fmt: skip
        client = as_role("operator", "op-1")
        form = {"csrf": client.csrf, "name": "山田 太郎", "organisation": "東海スマートエナジー", "email": "yamada@", "phone": "052-000-0000"}  # type: ignore[attr-defined]
        page = client.post("/portal/contacts/security_incident", data=form)
        assert page.status_code == 422 and "email: value is not a valid email address" in page.text and 'value="山田 太郎"' in page.text
        (sent,) = fake.sent("PUT", "/operators/op-1/contacts/security_incident")
        assert json.loads(sent.content) == {"name": "山田 太郎", "organisation": "東海スマートエナジー", "email": "yamada@",
                                            "phone": "052-000-0000"}  # fmt: skip

    @pytest.mark.parametrize(("which", "fields", "body"), [
        ("trainings", {"date": "2026-12-01", "kind": "incident_drill", "participants": "12"},
         {"date": "2026-12-01", "kind": "incident_drill", "participants": 12}),
        ("leakage-controls", {"date": "2026-12-01", "controls": "暗号化して保管\n\nアクセスを記録", "attested_by": "情報セキュリティ責任者"},
         {"date": "2026-12-01", "controls": ["暗号化して保管", "アクセスを記録"], "attested_by": "情報セキュリティ責任者"}),
        ("status-reports", {"request_id": "req-9", "summary": "年次の義務はすべて実施済みです"},
         {"request_id": "req-9", "summary": "年次の義務はすべて実施済みです"}),
    ])  # fmt: skip
    def test_the_compliance_forms_send_what_the_api_takes(self, fake, as_role, which, fields, body) -> None:
        fake.on("POST", "connection", f"/operators/op-1/{which}", 201, {"operator_id": "op-1", "version": 2})
        client = as_role("operator", "op-1")
        answer = client.post(f"/portal/compliance/{which}", data={"csrf": client.csrf, **fields})  # type: ignore[attr-defined]
        assert answer.status_code == 303 and answer.headers["location"].startswith("/portal/compliance?notice=")
        (sent,) = fake.sent("POST", f"/operators/op-1/{which}")
        assert json.loads(sent.content) == body

    def test_the_compliance_page_offers_to_answer_the_open_request(self, fake, as_role) -> None:
        fake.on("GET", "connection", "/operators/op-1/compliance", body=compliance())
        page = as_role("operator", "op-1").get("/portal/compliance")
        assert "運用状況を示してください" in page.text and 'name="request_id" value="req-9"' in page.text
        assert "リスクアセスメント" in page.text and "未実施" in page.text

    def test_a_csv_upload_goes_to_the_bulk_route_as_csv_and_each_rows_outcome_shows(self, fake, as_role) -> None:
        result = BulkPublic(registered=1, refused=1, rows=[
            BulkRowPublic(row=1, id="conn-1", version=1),
            BulkRowPublic(row=2, errors=[{"loc": ["firmware"], "msg": "String should have at least 1 character", "type": "string_too_short"}]),
        ])  # fmt: skip
        fake.on("POST", "connection", "/connections/bulk", 207, result.model_dump(mode="json", exclude_none=True))
        csv = f"kind,maker,model,firmware,auth_id,password,pairing_id\nspecial_meter,M,X,1,A,{PASSWORD},P\nspecial_meter,M,X,,A,{PASSWORD},P\n"
        client = as_role("operator", "op-1")
        page = client.post("/portal/bulk", data={"csrf": client.csrf}, files={"file": ("meters.csv", csv.encode(), "application/vnd.ms-excel")})  # type: ignore[attr-defined]
        assert page.status_code == 200
        assert "登録 1件、拒否 1件" in page.text and 'href="/connections/conn-1"' in page.text
        assert "firmware</code>: String should have at least 1 character" in page.text and PASSWORD not in page.text
        (sent,) = fake.sent("POST", "/connections/bulk")
        assert sent.content == csv.encode() and sent.headers["Content-Type"].startswith("text/csv")
        assert sent.headers["Idempotency-Key"]

    def test_a_file_over_the_cap_is_refused_before_any_call(self, fake, as_role, monkeypatch) -> None:
        client = as_role("operator", "op-1")
        monkeypatch.setattr(client.app.state.options, "max_bulk_body_bytes", 64)
        page = client.post("/portal/bulk", data={"csrf": client.csrf}, files={"file": ("big.csv", b"x" * 65, "text/csv")})  # type: ignore[attr-defined]
        assert page.status_code == 413 and "ファイルが大きすぎます" in page.text
        assert fake.sent("POST", "/connections/bulk") == []
