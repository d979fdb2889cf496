"""API: status codes, tenancy and validation against the running service (real broker)."""

from __future__ import annotations

import uuid

import pytest

from tests.services.notification.helpers import report, uid
from tests.services.notification.notification_support import Clock, SmtpServer, block, producer
from shared import topics
from shared.eventstore import Context
from tests.factories import bearer, eventually, make_settings, serving
from services.notification.bootstrap import build_app
from services.notification.config import NotificationSettings

CONTACT = {"name": "セキュリティ担当 鈴木", "organisation": "中部テック株式会社", "email": "suzuki@op.example", "phone": "052-000-0000"}


@pytest.fixture(scope="module")
def smtp():
    """One SMTP server for the module's service."""
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def settings(kafka_bootstrap, tmp_path_factory):
    """One topic prefix for the module: every test uses fresh operator ids instead of fresh topics."""
    return make_settings(kafka_bootstrap, f"t{uuid.uuid4().hex[:8]}.", tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
async def service(settings, smtp):
    """The service, started once for the module."""
    config = NotificationSettings(smtp_port=smtp.port, dispatch_interval_seconds=0.05, public_base_url="https://smguard.test")
    app = build_app(settings, config=config, clock=Clock())
    async with serving(app) as client:
        yield app, client


@pytest.fixture
def running(service):
    """An HTTP client to the running service."""
    return service[1]


def put(client, settings, operator, kind="security_incident", body=None, role="operator", token_operator=None):
    headers = bearer(settings, role, (token_operator or operator) if role == "operator" else None)
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

    async def test_an_operator_reads_its_own_contacts(self, running, settings):
        operator = uid("op")
        await put(running, settings, operator, body={**CONTACT, "webhook_url": "https://op.example/hook"})
        response = await eventually(lambda: contacts_of(running, settings, operator), what="the contact in the view")
        (contact,) = response["contacts"]
        assert contact["kind"] == "security_incident" and contact["webhook_url"] == "https://op.example/hook"

    async def test_the_utility_soc_may_set_an_operators_contact(self, running, settings):
        response = await put(running, settings, uid("op"), role="utility_soc")
        assert response.status_code == 201

    async def test_a_malformed_email_is_refused_and_nothing_is_written(self, service, running, settings):
        operator = uid("op")
        response = await put(running, settings, operator, body={**CONTACT, "email": "not-an-address"})
        assert response.status_code == 422
        assert service[0].state.notification_store.version(operator) == 0

    async def test_a_malformed_webhook_url_is_refused(self, running, settings):
        response = await put(running, settings, uid("op"), body={**CONTACT, "webhook_url": "ftp//nowhere"})
        assert response.status_code == 422

    async def test_an_unknown_kind_or_field_is_refused(self, running, settings):
        assert (await put(running, settings, uid("op"), kind="billing")).status_code == 422
        assert (await put(running, settings, uid("op"), body={**CONTACT, "extra": 1})).status_code == 422

    async def test_another_operators_contacts_are_not_found(self, running, settings):
        operator = uid("op")
        await put(running, settings, operator)
        other = bearer(settings, "operator", uid("op"))
        assert (await running.get(f"/operators/{operator}/contacts", headers=other)).status_code == 404
        assert (await put(running, settings, operator, token_operator=uid("op"))).status_code == 404

    async def test_without_a_token_it_is_401_and_with_a_wrong_role_403(self, running, settings):
        operator = uid("op")
        assert (await running.put(f"/operators/{operator}/contacts/applicant", json=CONTACT)).status_code == 401
        assert (await running.get(f"/operators/{operator}/contacts")).status_code == 401
        assert (await put(running, settings, operator, role="utility_desk")).status_code == 403
        assert (await put(running, settings, operator, role="auditor")).status_code == 403
        assert (await running.get("/notifications", headers=bearer(settings, "sensor"))).status_code == 403


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
            await put(running, settings, operator)
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

    async def test_only_the_receiving_side_may_acknowledge(self, running, settings):
        operator, incident = uid("op"), uid("inc")
        async with producer(settings, topics.INCIDENT_EVENTS) as store:
            await store.append(incident, [report(incident)], context=Context(actor="op", operator_id=operator))

        async def to_desk():
            response = await running.get("/notifications", params={"operator_id": operator}, headers=bearer(settings, "utility_desk"))
            return response.json()["items"]

        (item,) = await eventually(to_desk, what="the report's notification to the desk")
        url = f"/notifications/{item['id']}/ack"
        assert (await running.post(url, headers=bearer(settings, "operator", operator))).status_code == 403
        assert (await running.post(url, headers=bearer(settings, "auditor"))).status_code == 403
        assert (await running.post(url, headers=bearer(settings, "utility_desk"))).status_code == 200

    async def test_an_unknown_notification_is_not_found_and_bad_paging_is_refused(self, running, settings):
        soc = bearer(settings, "utility_soc")
        assert (await running.get(f"/notifications/{uid('n')}", headers=soc)).status_code == 404
        assert (await running.post(f"/notifications/{uid('n')}/ack", headers=soc)).status_code == 404
        assert (await running.get("/notifications", params={"limit": 100000}, headers=soc)).status_code == 422
        assert (await running.get("/notifications", params={"status": "lost"}, headers=soc)).status_code == 422
