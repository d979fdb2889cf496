"""API: status codes, tenancy and validation against the running service (real broker)."""

from __future__ import annotations

import httpx
import pytest

from services.notification.bootstrap import build_app
from tests.factories import bearer, eventually, serving, uid
from tests.services.notification.helpers import block, file_report, put_contact

CONTACT = {"name": "セキュリティ担当 鈴木", "organisation": "中部テック株式会社", "email": "suzuki@op.example", "phone": "052-000-0000"}


@pytest.fixture
async def service(settings, config, clock):
    """The service on this test's own topics: its app and an HTTP client to it."""
    app = build_app(settings, config=config, clock=clock)
    async with serving(app) as client:
        yield app, client


@pytest.fixture
def running(service):
    """An HTTP client to the running service."""
    return service[1]


@pytest.fixture
async def routes(settings, config, clock):
    """An HTTP client to the routes alone, the runtime not started: for answers given before any event is read."""
    app = build_app(settings, config=config, clock=clock)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        yield app, client


def put(client, settings, operator, kind="security_incident", body=None, role="operator", token_operator=None, **headers):
    headers = {**bearer(settings, role, (token_operator or operator) if role == "operator" else None), **headers}
    return client.put(f"/operators/{operator}/contacts/{kind}", json=body or CONTACT, headers=headers)


class TestContacts:
    async def test_the_first_put_registers_and_a_changed_one_changes(self, running, settings):
        operator = uid("op")
        first = await put(running, settings, operator)
        second = await put(running, settings, operator, body={**CONTACT, "phone": "052-999-9999"})
        same = await put(running, settings, operator, body={**CONTACT, "phone": "052-999-9999"})
        assert (first.status_code, second.status_code, same.status_code) == (201, 200, 200)
        assert (first.json()["changed"], second.json()["changed"], same.json()["changed"]) == (True, True, False)
        assert first.json()["name"] == "セキュリティ担当 鈴木"
        assert (first.json()["version"], second.json()["version"], same.json()["version"]) == (1, 2, 2)

    async def test_if_match_must_name_the_current_version(self, running, settings):
        operator = uid("op")
        await put(running, settings, operator)
        stale = await put(running, settings, operator, body={**CONTACT, "phone": "1"}, **{"If-Match": "0"})
        current = await put(running, settings, operator, body={**CONTACT, "phone": "1"}, **{"If-Match": '"1"'})
        assert stale.status_code == 409 and stale.json()["current_version"] == 1
        assert current.status_code == 200 and current.json()["version"] == 2

    async def test_a_retried_put_under_its_idempotency_key_answers_as_the_first(self, running, settings):
        operator = uid("op")
        first = await put(running, settings, operator, **{"Idempotency-Key": "k-1"})
        again = await put(running, settings, operator, **{"Idempotency-Key": "k-1"})
        assert (first.status_code, again.status_code) == (201, 201) and first.json() == again.json()

    async def test_an_operator_reads_its_own_contacts(self, running, settings):
        operator = uid("op")
        await put(running, settings, operator, body={**CONTACT, "webhook_url": "https://op.example/hook"})
        response = await eventually(lambda: contacts_of(running, settings, operator), what="the contact in the view")
        (contact,) = response["contacts"]
        assert contact["kind"] == "security_incident" and contact["webhook_url"] == "https://op.example/hook"

    async def test_the_utility_soc_may_set_an_operators_contact(self, running, settings):
        response = await put(running, settings, uid("op"), role="utility_soc")
        assert response.status_code == 201

    async def test_a_malformed_email_is_refused_and_nothing_is_written(self, service, settings):
        app, client = service
        operator = uid("op")
        response = await put(client, settings, operator, body={**CONTACT, "email": "not-an-address"})
        assert response.status_code == 422 and response.json()["code"] == "invalid_input"
        assert app.state.service.store.snapshot(operator) is None

    async def test_a_malformed_webhook_url_is_refused(self, routes, settings):
        _, client = routes
        response = await put(client, settings, uid("op"), body={**CONTACT, "webhook_url": "ftp//nowhere"})
        assert response.status_code == 422

    async def test_an_unknown_kind_or_field_is_refused(self, routes, settings):
        _, client = routes
        assert (await put(client, settings, uid("op"), kind="billing")).status_code == 422
        assert (await put(client, settings, uid("op"), body={**CONTACT, "extra": 1})).status_code == 422

    async def test_another_operators_contacts_are_not_found(self, running, settings):
        operator = uid("op")
        await put(running, settings, operator)
        other = bearer(settings, "operator", uid("op"))
        assert (await running.get(f"/operators/{operator}/contacts", headers=other)).status_code == 404
        assert (await put(running, settings, operator, token_operator=uid("op"))).status_code == 404

    async def test_without_a_token_it_is_401_and_with_a_wrong_role_403(self, routes, settings):
        _, client = routes
        operator = uid("op")
        assert (await client.put(f"/operators/{operator}/contacts/applicant", json=CONTACT)).status_code == 401
        assert (await client.get(f"/operators/{operator}/contacts")).status_code == 401
        assert (await put(client, settings, operator, role="utility_desk")).status_code == 403
        assert (await put(client, settings, operator, role="auditor")).status_code == 403
        assert (await client.get("/notifications", headers=bearer(settings, "sensor"))).status_code == 403


def contacts_of(client, settings, operator):
    async def read():
        response = await client.get(f"/operators/{operator}/contacts", headers=bearer(settings, "operator", operator))
        assert response.status_code == 200
        return response.json() if response.json()["contacts"] else None
    return read()


class TestNotifications:
    async def test_an_operator_sees_and_acknowledges_its_own_notifications_only(self, running, settings, smtp):
        mine, theirs = uid("op"), uid("op")
        for operator in (mine, theirs):
            await put_contact(running, settings, operator, "security_incident", CONTACT["email"])
            await block(settings, operator)
        soc = bearer(settings, "utility_soc")

        async def blocks():
            items = (await running.get("/notifications", params={"limit": 200}, headers=soc)).json()["items"]
            found = {n["operator_id"]: n for n in items if n["domain_event"]["type"] == "ConnectionBlocked"}
            return found if {mine, theirs} <= set(found) else None

        found = await eventually(blocks, what="both block notifications")
        own = bearer(settings, "operator", mine)
        listed = (await running.get("/notifications", headers=own)).json()["items"]
        assert {n["operator_id"] for n in listed} == {mine}
        filtered = (await running.get("/notifications", params={"operator_id": theirs}, headers=own)).json()
        assert filtered["items"] == [] and filtered["total"] == 0
        assert (await running.get(f"/notifications/{found[theirs]['id']}", headers=own)).status_code == 404
        assert (await running.post(f"/notifications/{found[theirs]['id']}/ack", headers=own)).status_code == 404
        detail = (await running.get(f"/notifications/{found[mine]['id']}", headers=own)).json()
        assert detail["recipient"]["kind"] == "security_incident" and detail["route"] == "utility_to_operator"
        assert detail["domain_event"]["subject"] and detail["channel"] == "email"
        acked = await running.post(f"/notifications/{found[mine]['id']}/ack", headers=own)
        assert acked.status_code == 200 and acked.json()["status"] == "acknowledged"

        async def counted() -> bool:  # the people running it see the acknowledgement among notifications by state
            return 'smguard_notifications{state="acknowledged"} 1.0' in (await running.get("/metrics")).text

        await eventually(counted, what="the acknowledgement on /metrics", interval=0.25)

    async def test_only_the_receiving_side_may_acknowledge(self, running, settings):
        operator, incident = uid("op"), uid("inc")
        await file_report(settings, incident, operator)

        async def to_desk():
            response = await running.get("/notifications", params={"operator_id": operator}, headers=bearer(settings, "utility_desk"))
            return response.json()["items"]

        (item,) = await eventually(to_desk, what="the report's notification to the desk")
        url = f"/notifications/{item['id']}/ack"
        assert (await running.post(url, headers=bearer(settings, "operator", operator))).status_code == 403
        assert (await running.post(url, headers=bearer(settings, "auditor"))).status_code == 403
        assert (await running.post(url, headers=bearer(settings, "utility_desk"))).status_code == 200

    async def test_an_acknowledgement_with_if_match_must_name_the_current_version(self, running, settings):
        operator = uid("op")
        await put_contact(running, settings, operator, "security_incident", CONTACT["email"])
        await block(settings, operator)
        own = bearer(settings, "operator", operator)

        async def delivered():
            items = (await running.get("/notifications", params={"status": "delivered"}, headers=own)).json()["items"]
            return [n for n in items if n["domain_event"]["type"] == "ConnectionBlocked"]

        (item,) = await eventually(delivered, what="the block delivered")
        url = f"/notifications/{item['id']}/ack"
        stale = await running.post(url, headers={**own, "If-Match": str(item["version"] - 1)})
        acked = await running.post(url, headers={**own, "If-Match": str(item["version"])})
        assert stale.status_code == 409 and stale.json()["current_version"] == item["version"] == 2
        assert acked.status_code == 200 and acked.json()["version"] == 3 and acked.json()["acknowledged_by"] == f"operator:{operator}"

    async def test_an_unknown_notification_is_not_found_and_bad_paging_is_refused(self, running, settings):
        client = running
        soc = bearer(settings, "utility_soc")
        assert (await client.get(f"/notifications/{uid('n')}", headers=soc)).status_code == 404
        assert (await client.post(f"/notifications/{uid('n')}/ack", headers=soc)).status_code == 404
        assert (await client.get("/notifications", params={"limit": 100000}, headers=soc)).status_code == 422
        assert (await client.get("/notifications", params={"status": "lost"}, headers=soc)).status_code == 422
        assert (await client.get(f"/notifications/{uid('n')}/members", headers=soc)).status_code == 404
        assert (await client.get(f"/notifications/{uid('n')}/members", params={"limit": 501}, headers=soc)).status_code == 422

    async def test_the_list_is_one_page_of_a_tagged_query_newest_first_with_its_total(self, running, settings):
        operator = uid("op")
        await put_contact(running, settings, operator, "security_incident", CONTACT["email"])
        told = [(await block(settings, operator)).connection_id for _ in range(3)]
        own = bearer(settings, "operator", operator)

        async def listed(**params):
            answer = await running.get("/notifications", params={"status": "delivered", **params}, headers=own)
            return answer.json()

        await eventually(lambda: _total(listed(), 4), what="the contact notice and three blocks delivered")
        first, rest = await listed(limit=2), await listed(limit=2, offset=2)
        assert (len(first["items"]), len(rest["items"]), first["total"], rest["total"]) == (2, 2, 4, 4)
        pages = [n["domain_event"]["subject"] for n in first["items"] + rest["items"] if n["domain_event"]["type"] == "ConnectionBlocked"]
        assert sorted(pages) == sorted(told) and len({n["id"] for n in first["items"] + rest["items"]}) == 4
        queued_at = [n["queued_at"] for n in first["items"] + rest["items"]]
        assert queued_at == sorted(queued_at, reverse=True)
        assert (await listed(status="queued"))["total"] == 0


async def _total(answer, count: int) -> bool:
    return (await answer)["total"] == count
