"""The authorization matrix: every route of the four apps × every role × own and another operator's object.

The routes come from each app's route table; EXPECTED is the one table of answers. A route missing
from it, or a row for a route that no longer exists, fails the suite by name. The apps run against
the real broker on seeded objects: operator A's incident, connections, contacts, compliance items
and notification; operator B ("other_operator") reads and changes A's objects, and must meet a 404
(the contract: another tenant's object is not revealed to exist) — or a 403 where the route's role
check already refuses operators (e.g. the SOC's block), or where B names A as the tenant it acts for.
"""

from __future__ import annotations

import contextlib
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from services.audit import bootstrap as audit
from services.connection import bootstrap as connection
from services.incident import bootstrap as incident
from services.notification import bootstrap as notification
from tests.factories import bearer, eventually, make_settings, serving, uid

ROLES = ("none", "sensor", "auditor", "utility_desk", "utility_soc", "operator", "other_operator")
SERVICES: dict[str, Callable[..., FastAPI]] = {
    "incident": incident.build_app, "connection": connection.build_app,
    "notification": notification.build_app, "audit": audit.build_app,
}  # fmt: skip
Route = tuple[str, str, str]  # service, method, path template


def allows(code: int, *roles: str, other: int | None = None) -> dict[str, int]:
    """``code`` for these roles ("operator": A on its own object), 403 for the others, 401 without a token;
    ``other``: what operator B gets on A's object (by default what the operator role gets)."""
    answers = {role: code if role in roles else 403 for role in ROLES}
    answers["none"] = 401
    answers["other_operator"] = other if other is not None else answers["operator"]
    return answers


PUBLIC = {role: 200 for role in ROLES}
READERS = ("auditor", "utility_desk", "utility_soc", "operator")
UTILITY_READERS = ("auditor", "utility_desk", "utility_soc")
OPS = allows(200, "auditor", "utility_soc")
OPERATIONS = {
    (service, method, path): answers
    for service in SERVICES
    for method, path, answers in (
        ("GET", "/healthz", PUBLIC), ("GET", "/readyz", PUBLIC), ("GET", "/metrics", PUBLIC),
        ("GET", "/ops/parked", OPS), ("GET", "/ops/read-model", OPS),
    )
}  # fmt: skip

EXPECTED: dict[Route, dict[str, int]] = {
    **OPERATIONS,
    # incident service
    ("incident", "POST", "/incidents"): allows(201, "utility_soc", "operator", other=403),  # B naming A as its tenant
    ("incident", "GET", "/incidents"): allows(200, *READERS),
    ("incident", "GET", "/incidents/{incident_id}"): allows(200, *READERS, other=404),
    ("incident", "GET", "/incidents/{incident_id}/anomalies"): allows(200, *READERS, other=404),
    ("incident", "POST", "/incidents/{incident_id}/reports/initial"): allows(201, "utility_soc", "operator", other=404),
    ("incident", "POST", "/incidents/{incident_id}/reports/cause"): allows(201, "utility_soc", "operator", other=404),
    ("incident", "POST", "/incidents/{incident_id}/clear"): allows(409, "utility_soc", "operator", other=404),  # no cause report
    ("incident", "POST", "/incidents/{incident_id}/notes"): allows(201, "utility_soc", "operator", other=404),
    ("incident", "POST", "/anomalies"): allows(202, "sensor", "utility_soc"),
    ("incident", "POST", "/vulnerabilities"): allows(201, "utility_soc"),
    # connection service
    ("connection", "POST", "/connections"): allows(201, "utility_soc", "operator", other=403),  # B naming A
    ("connection", "POST", "/connections/bulk"): allows(200, "utility_soc", "operator", other=403),  # B naming A
    ("connection", "GET", "/connections"): allows(200, *READERS),
    ("connection", "GET", "/connections/matching"): allows(200, "utility_soc"),
    ("connection", "GET", "/connections/{connection_id}"): allows(200, *READERS, other=404),
    ("connection", "POST", "/connections/{connection_id}/secrets"): allows(200, "utility_soc", "operator", other=404),
    ("connection", "POST", "/connections/{connection_id}/block"): allows(201, "utility_soc"),
    ("connection", "POST", "/connections/{connection_id}/approvals"): allows(409, "utility_soc", "operator", other=404),
    ("connection", "POST", "/incidents/{incident_id}/approvals"): allows(200, "utility_soc", "operator", other=404),
    ("connection", "POST", "/operators"): allows(201, "utility_soc"),
    ("connection", "GET", "/operators"): allows(200, *READERS),  # an operator: a page with only itself
    ("connection", "POST", "/operators/{operator_id}/risk-assessments"): allows(201, "operator", other=404),
    ("connection", "POST", "/operators/{operator_id}/trainings"): allows(201, "operator", other=404),
    ("connection", "POST", "/operators/{operator_id}/leakage-controls"): allows(201, "operator", other=404),
    ("connection", "POST", "/operators/{operator_id}/status-requests"): allows(201, "utility_soc"),
    ("connection", "POST", "/operators/{operator_id}/status-reports"): allows(201, "operator", other=404),
    ("connection", "GET", "/operators/{operator_id}/compliance"): allows(200, *READERS, other=404),
    ("connection", "GET", "/block-policy"): allows(200, *UTILITY_READERS),
    ("connection", "PUT", "/block-policy"): allows(200, "utility_soc"),
    ("connection", "GET", "/secrets/keys"): allows(200, "auditor", "utility_soc"),
    ("connection", "POST", "/secrets/reseal"): allows(200, "utility_soc"),
    ("connection", "GET", "/block-recommendations"): allows(200, *UTILITY_READERS),  # the desk and auditors read them
    ("connection", "POST", "/block-recommendations/{recommendation_id}/confirm"): allows(200, "utility_soc"),
    ("connection", "POST", "/block-recommendations/{recommendation_id}/reject"): allows(200, "utility_soc"),
    # notification service
    ("notification", "PUT", "/operators/{operator_id}/contacts/{kind}"): allows(200, "utility_soc", "operator", other=404),
    ("notification", "GET", "/operators/{operator_id}/contacts"): allows(200, *READERS, other=404),
    ("notification", "GET", "/operators/{operator_id}/contacts/{kind}/webhook-secret"): allows(200, "utility_soc", "operator", other=404),
    ("notification", "GET", "/desk/webhook-secret"): allows(404, "utility_soc"),  # no desk webhook is configured here
    ("notification", "GET", "/notifications"): allows(200, *READERS),
    ("notification", "GET", "/notifications/{notification_id}"): allows(200, *READERS, other=404),
    ("notification", "GET", "/notifications/{notification_id}/members"): allows(200, *READERS, other=404),
    ("notification", "POST", "/notifications/{notification_id}/ack"): allows(200, "operator", other=404),  # A's to ack
    # audit service
    ("audit", "GET", "/audit/entries"): allows(200, *READERS),
    ("audit", "GET", "/audit/verify"): allows(200, *UTILITY_READERS),
    ("audit", "GET", "/audit/checkpoints"): allows(200, *UTILITY_READERS),
    ("audit", "GET", "/audit/checkpoints/latest"): allows(200, *UTILITY_READERS),
    ("audit", "POST", "/audit/checkpoints"): allows(201, "auditor", "utility_soc"),
    ("audit", "GET", "/audit/proofs/inclusion/{entry}"): allows(200, *UTILITY_READERS),
    ("audit", "GET", "/audit/proofs/consistency"): allows(200, *UTILITY_READERS),
    ("audit", "GET", "/audit/dossiers/{incident_id}"): allows(200, *READERS, other=404),
}


def routes_of(service: str, app: FastAPI) -> list[Route]:
    """Every (method, path) of the app's route table (HEAD and OPTIONS are the server's, not the app's)."""
    found = []
    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, APIRoute):
            found += [(service, m, context.path) for m in sorted(context.original_route.methods - {"HEAD", "OPTIONS"})]
    return found


def test_the_table_names_every_route_and_no_route_that_is_gone(tmp_path: Path):
    settings = make_settings("127.0.0.1:9", "matrix.", tmp_path, kafka_security_protocol="PLAINTEXT")  # building an app connects to nothing
    routes = {route for service, build in SERVICES.items() for route in routes_of(service, build(settings))}
    missing = sorted(routes - EXPECTED.keys())
    gone = sorted(EXPECTED.keys() - routes)
    assert not missing, f"routes with no row in EXPECTED (add their expected answers): {missing}"
    assert not gone, f"rows of EXPECTED for routes that no longer exist (remove them): {gone}"


# ------------------------------------------------------------------------------------ the seeded world

TODAY = date.today()
NOW = datetime.now(timezone.utc)


class World:
    """The running apps, their clients, and operator A's objects (B owns one connection)."""

    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self.clients: dict[str, Any] = {}
        self.a, self.b = uid("op-a"), uid("op-b")
        self.ids: dict[str, str] = {}

    def token(self, role: str) -> dict[str, str]:
        """The Authorization header of a role ("operator" is A, "other_operator" is B, "none" has none)."""
        if role == "none":
            return {}
        if role in ("operator", "other_operator"):
            return bearer(self.settings, "operator", self.a if role == "operator" else self.b)
        return bearer(self.settings, role)


async def _answer(call: Callable[[], Any], status: int, what: str) -> dict[str, Any]:
    async def done():
        answer = await call()
        return answer.json() if answer.status_code == status else None

    return await eventually(done, timeout=60, what=what)


async def seed(w: World) -> None:
    """Operators A and B, their connections, A's incidents, a block, two recommendations, contacts, a status
    request and its notification to A, and a signed checkpoint of the audit log."""
    inc, con, note, aud = (w.clients[s] for s in SERVICES)
    soc, staff_a, staff_b = w.token("utility_soc"), w.token("operator"), w.token("other_operator")
    for operator in (w.a, w.b):
        body = {"operator_id": operator, "name": f"{operator} 株式会社", "agreement_date": "2025-04-01"}
        assert (await con.post("/operators", json=body, headers=soc)).status_code == 201
    assert (await con.put("/block-policy", json={"abnormal_communication": "recommend"}, headers=soc)).status_code == 200

    async def register(staff: dict[str, str]) -> str:
        secrets = {"auth_id": "AUTH-0001", "password": "秘密のパスワード", "pairing_id": "PAIR-0001"}
        body = {"kind": "special_meter", "maker": "東海計器", "model": "TK-100", "firmware": "2.1.0",
                "smart_meter_ids": [uid("sm")], "secrets": secrets}  # fmt: skip
        return (await _answer(lambda: con.post("/connections", json=body, headers=staff), 201, "registered"))["id"]

    w.ids["connection_id"], w.ids["second"], w.ids["third"] = [await register(staff_a) for _ in range(3)]
    w.ids["b_connection"] = await register(staff_b)

    async def report(title: str) -> str:
        body = {"category": "security_incident", "severity": "high", "title": title, "detected_at": NOW.isoformat(),
                "affected_assets": [{"kind": "special_meter", "id": w.ids["connection_id"]}]}  # fmt: skip
        answer = await inc.post("/incidents", json=body, headers=staff_a)
        assert answer.status_code == 201, answer.text
        return answer.json()["id"]

    w.ids["incident_id"], w.ids["to_clear"] = await report("不審な通信"), await report("端末の紛失")
    block = {"reason": "unauthorized_access", "incident_id": w.ids["incident_id"], "note": ""}
    await _answer(lambda: con.post(f"/connections/{w.ids['connection_id']}/block", json=block, headers=soc), 201, "blocked")

    w.ids["signal"] = uid("sig")
    for n, connection_id in enumerate((w.ids["second"], w.ids["third"])):
        signal = {"signal_id": w.ids["signal"] if n == 0 else uid("sig"), "connection_id": connection_id,
                  "type": "abnormal_communication", "severity": "medium", "observed_at": NOW.isoformat()}  # fmt: skip
        await _answer(lambda: inc.post("/anomalies", json=signal, headers=w.token("sensor")), 202, "anomaly")
    recommendations = await eventually(
        lambda: _listed(con.get("/block-recommendations", headers=soc), 2), timeout=60, what="two recommendations"
    )
    w.ids["recommendation_id"], w.ids["to_reject"] = sorted(r["id"] for r in recommendations)

    contact = {"name": "山田 太郎", "organisation": "A 株式会社", "email": "sec@a.example.jp", "phone": "052-000-0000"}
    for kind, webhook in (("applicant", {}), ("security_incident", {"webhook_url": "https://hooks.a.example.jp/smguard"})):
        put = note.put(f"/operators/{w.a}/contacts/{kind}", json=contact | webhook, headers=staff_a)
        assert (await put).status_code == 201
    secret_of_a = f"/operators/{w.a}/contacts/security_incident/webhook-secret"
    await eventually(lambda: _answers(note.get(secret_of_a, headers=soc), 200), timeout=60, what="A's webhook in the views")
    asked = {"subject": "運用状況の提示", "reply_by": (TODAY + timedelta(days=30)).isoformat()}
    w.ids["request_id"] = (await con.post(f"/operators/{w.a}/status-requests", json=asked, headers=soc)).json()["request_id"]
    to_a = await eventually(lambda: _listed(note.get("/notifications", headers=staff_a), 1, route="utility_to_operator"),
                            timeout=60, what="a notification to operator A")  # fmt: skip
    w.ids["notification_id"] = to_a[0]["id"]

    auditor = w.token("auditor")
    entries = await eventually(lambda: _listed(aud.get("/audit/entries", params={"subject": w.ids["incident_id"]},
                                                       headers=auditor), 1, key="items"), timeout=60, what="logged")  # fmt: skip
    w.ids["entry"] = entries[0]["entry"]
    assert (await aud.post("/audit/checkpoints", headers=auditor)).status_code == 201
    for client in w.clients.values():
        await eventually(lambda: _ok(client.get("/readyz")), timeout=60, what="ready")


async def _answers(request, code: int) -> bool:
    return (await request).status_code == code


async def _listed(answer: Any, n: int, *, key: str = "", route: str = "") -> list[dict[str, Any]] | None:
    body = (await answer).json()
    items = body[key] if key else body.get("items", body) if isinstance(body, dict) else body
    items = [i for i in items if not route or i.get("route") == route]
    return items if len(items) >= n else None


async def _ok(answer: Any) -> bool:
    return (await answer).status_code == 200


# ------------------------------------------------------------------------------------ requests per route


def request_for(w: World, route: Route) -> tuple[str, dict[str, Any], Any]:
    """The path, query and body of one valid request of the route, about operator A's seeded objects."""
    _, method, template = route
    ids = w.ids
    names = {
        "incident_id": ids["to_clear"] if template.endswith("/clear") else ids["incident_id"],
        "connection_id": ids["connection_id"], "operator_id": w.a, "kind": "security_incident",
        "notification_id": ids["notification_id"], "entry": ids["entry"],
        "recommendation_id": ids["to_reject"] if template.endswith("/reject") else ids["recommendation_id"],
    }  # fmt: skip
    path = template.format(**names)
    query = QUERIES.get(template, {})
    return path, query, BODIES.get((method, template), lambda _: None)(w) if method != "GET" else None


QUERIES: dict[str, dict[str, Any]] = {
    "/audit/proofs/consistency": {"first": 1, "second": 1},
    "/connections/matching": {"asset_kind": "special_meter", "maker": "M", "firmware": ">=1.0"},
}

BODIES: dict[tuple[str, str], Callable[[World], Any]] = {
    ("POST", "/incidents"): lambda w: {
        "category": "security_incident", "severity": "low", "title": "確認", "detected_at": NOW.isoformat(),
        "operator_id": w.a, "affected_assets": [{"kind": "special_meter", "id": w.ids["connection_id"]}],
    },
    ("POST", "/incidents/{incident_id}/reports/initial"): lambda w: {
        "event": "発生事象", "location": "名古屋", "impacts": [{"target": "特例計量器", "impact": "停止"}], "response_plan": "調査",
    },
    ("POST", "/incidents/{incident_id}/reports/cause"): lambda w: {
        "cause": "要因", "countermeasure": "対策", "countermeasure_plan": "計画", "recurrence_prevention": "再発防止",
    },
    ("POST", "/incidents/{incident_id}/clear"): lambda w: {"summary": "解消"},
    ("POST", "/incidents/{incident_id}/notes"): lambda w: {"text": "確認しました"},
    ("POST", "/anomalies"): lambda w: {  # the seeded signal again: recognised as a duplicate, changes nothing
        "signal_id": w.ids["signal"], "connection_id": w.ids["second"], "type": "abnormal_communication",
        "severity": "medium", "observed_at": NOW.isoformat(),
    },
    ("POST", "/vulnerabilities"): lambda w: {
        "title": "該当なし", "severity": "low", "asset_kind": "special_meter", "maker": uid("maker"), "model": uid("model"),
    },
    ("POST", "/connections"): lambda w: {
        "kind": "wireless_terminal", "maker": "M", "model": "W1", "firmware": "1.0", "operator_id": w.a,
        "secrets": {"auth_id": "AUTH-0002", "password": "pass-0002", "pairing_id": "PAIR-0002"},
    },
    ("POST", "/connections/bulk"): lambda w: [{
        "kind": "wireless_terminal", "maker": "M", "model": "W2", "firmware": "1.0", "operator_id": w.a,
        "secrets": {"auth_id": "AUTH-0004", "password": "pass-0004", "pairing_id": "PAIR-0004"},
    }],
    ("POST", "/connections/{connection_id}/secrets"): lambda w: {
        "auth_id": "AUTH-0003", "password": "pass-0003", "pairing_id": "PAIR-0003",
    },
    ("POST", "/connections/{connection_id}/block"): lambda w: {
        "reason": "unauthorized_access", "incident_id": w.ids["to_clear"], "note": "",
    },
    ("POST", "/connections/{connection_id}/approvals"): lambda w: {"note": ""},
    ("POST", "/incidents/{incident_id}/approvals"): lambda w: {"note": ""},
    ("POST", "/operators"): lambda w: {"operator_id": uid("op"), "name": "新規", "agreement_date": "2025-04-01"},
    ("POST", "/operators/{operator_id}/risk-assessments"): lambda w: {
        "date": TODAY.isoformat(), "scope": "全体", "method": "診断", "findings_summary": "なし", "remediation_status": "完了",
    },
    ("POST", "/operators/{operator_id}/trainings"): lambda w: {"date": TODAY.isoformat(), "kind": "education", "participants": 3},
    ("POST", "/operators/{operator_id}/leakage-controls"): lambda w: {
        "date": TODAY.isoformat(), "controls": ["暗号化"], "attested_by": "責任者",
    },
    ("POST", "/operators/{operator_id}/status-requests"): lambda w: {
        "subject": "再確認", "reply_by": (TODAY + timedelta(days=30)).isoformat(),
    },
    ("POST", "/operators/{operator_id}/status-reports"): lambda w: {"request_id": w.ids["request_id"], "summary": "順調"},
    ("PUT", "/block-policy"): lambda w: {"abnormal_communication": "recommend"},
    ("POST", "/block-recommendations/{recommendation_id}/confirm"): lambda w: {"note": ""},
    ("POST", "/block-recommendations/{recommendation_id}/reject"): lambda w: {"note": ""},
    ("PUT", "/operators/{operator_id}/contacts/{kind}"): lambda w: {
        "name": "佐藤 花子", "organisation": "A 株式会社", "email": "sec2@a.example.jp", "phone": "052-111-1111",
        "webhook_url": "https://hooks.a.example.jp/smguard",  # kept: the webhook-secret route reads it
    },
    ("POST", "/notifications/{notification_id}/ack"): lambda w: {},
    ("POST", "/audit/checkpoints"): lambda w: {},
}  # fmt: skip


@pytest.fixture(scope="module")
async def world(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory):
    """The four apps on one topic prefix of the session's broker, seeded once for the whole matrix."""
    prefix = f"t{uid('mx')[-8:]}."
    settings = make_settings(kafka_bootstrap, prefix, tmp_path_factory.mktemp("matrix"))
    w = World(settings)
    async with contextlib.AsyncExitStack() as stack:
        for service, build in SERVICES.items():
            app = build(settings)
            w.clients[service] = await stack.enter_async_context(serving(app))
            w.clients[service].routes = routes_of(service, app)  # type: ignore[attr-defined]
        await seed(w)
        yield w


async def test_every_route_answers_every_role_as_the_table_says(world: World):
    wrong, leaks = [], []
    for service, client in world.clients.items():
        for route in client.routes:
            expected = EXPECTED.get(route)
            if expected is None:
                wrong.append(f"{route}: no row in EXPECTED")
                continue
            for role in ROLES:
                path, query, body = request_for(world, route)
                answer = await client.request(route[1], path, params=query, json=body, headers=world.token(role))
                if answer.status_code != expected[role]:
                    wrong.append(f"{route[1]} {path} ({service}) as {role}: {answer.status_code}, expected {expected[role]}"
                                 f" — {answer.text[:160]}")  # fmt: skip
                if role == "other_operator" and answer.status_code < 300:
                    seen = [i for i in (world.a, world.ids["connection_id"], world.ids["incident_id"]) if i in answer.text]
                    if seen:
                        leaks.append(f"{route[1]} {path} ({service}) shows operator B {seen}")
    assert not wrong, "answers that differ from EXPECTED:\n" + "\n".join(wrong)
    assert not leaks, "operator A's objects shown to operator B:\n" + "\n".join(leaks)
