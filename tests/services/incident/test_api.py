"""The incident routes against a running service on the real broker: status codes, tenancy, round trips."""

from __future__ import annotations

import asyncio

import pytest

from tests.factories import bearer, connection_blocked, connection_registered, eventually, uid
from tests.services.incident.helpers import (
    CAUSE, INITIAL, VULNERABILITY, anomaly_body, connection_service, incident_body, known, registered, running,
)  # fmt: skip


@pytest.fixture
async def service(settings):
    """The incident service on this test's own topics, once it owns its partitions, and an HTTP client to it."""
    async with running(settings) as client:
        yield client


def incidents_decided(service) -> list[str]:
    """The open incidents this (only) instance holds, staged ones included: what a write would have added."""
    return service.svc.store.find("open", "1")


def as_role(service, role, operator_id=None):
    return bearer(service.settings, role, operator_id)


async def opened_by_operator(service, operator_id, **overrides):
    response = await service.post("/incidents", json=incident_body(**overrides), headers=as_role(service, "operator", operator_id))
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def known_connection(service, operator_id, kind="special_meter"):
    connection_id = uid("conn")
    await registered(service.settings, connection_id, operator_id, kind=kind)
    await known(service.svc, connection_id)
    return connection_id


async def with_cause_report(service, incident_id, headers):
    response = await service.post(f"/incidents/{incident_id}/reports/cause", json=CAUSE, headers=headers)
    assert response.status_code == 201, response.text


class TestReportIncident:
    async def test_an_operator_reports_and_reads_back_its_japanese_text_intact(self, service, operator_id):
        incident_id = await opened_by_operator(service, operator_id)
        detail = (await service.get(f"/incidents/{incident_id}", headers=as_role(service, "operator", operator_id))).json()
        assert (detail["title"], detail["description"]) == ("無線端末の紛失", "営業所で無線端末を紛失しました。")
        assert detail["status"] == "open" and detail["tlp"] == "AMBER" and detail["operator_id"] == operator_id
        assert detail["affected_assets"] == [{"kind": "wireless_terminal", "id": "WT-001", "side": "operator"}]
        assert [t["type"] for t in detail["timeline"]] == ["IncidentOpened"]

    async def test_the_utility_reports_for_an_operator(self, service, operator_id):
        body = incident_body(operator_id=operator_id, affected_assets=[{"kind": "hes", "id": "HES-1"}], tlp="RED")
        response = await service.post("/incidents", json=body, headers=as_role(service, "utility_soc"))
        assert response.status_code == 201 and response.json()["version"] == 1
        detail = (await service.get(f"/incidents/{response.json()['id']}", headers=as_role(service, "operator", operator_id))).json()
        assert (detail["opened_by"], detail["tlp"], detail["affected_assets"][0]["side"]) == ("utility", "RED", "utility")

    async def test_without_a_token_it_is_401(self, service):
        assert (await service.post("/incidents", json=incident_body())).status_code == 401

    async def test_roles_that_do_not_report_get_403(self, service):
        for role in ("sensor", "utility_desk", "auditor"):
            response = await service.post("/incidents", json=incident_body(), headers=as_role(service, role))
            assert response.status_code == 403, role

    async def test_bad_input_is_422_and_writes_nothing(self, service, operator_id):
        changes = [
            {"title": " "}, {"severity": "extreme"}, {"detected_at": "2026-04-01T09:00:00"}, {"colour": "red"},
            {"affected_assets": [{"kind": "toaster", "id": "1"}]}, {"tlp": "WHITE"},
        ]  # fmt: skip
        headers = as_role(service, "operator", operator_id)
        for change in changes:
            response = await service.post("/incidents", json=incident_body(**change), headers=headers)
            assert response.status_code == 422, change
        assert incidents_decided(service) == []

    async def test_an_operator_may_not_report_for_another_operator_403_as_everywhere(self, service, operator_id):
        body = incident_body(operator_id="someone-else")
        response = await service.post("/incidents", json=body, headers=as_role(service, "operator", operator_id))
        assert response.status_code == 403 and response.json()["code"] == "forbidden"
        assert incidents_decided(service) == []

    async def test_a_retry_with_the_same_idempotency_key_returns_the_same_incident(self, service, operator_id):
        headers = as_role(service, "operator", operator_id) | {"Idempotency-Key": "report-1"}
        first = await service.post("/incidents", json=incident_body(), headers=headers)
        again = await service.post("/incidents", json=incident_body(), headers=headers)
        assert first.status_code == again.status_code == 201 and first.json() == again.json()
        assert incidents_decided(service) == [first.json()["id"]]


class TestReading:
    async def test_another_operators_incident_is_404_and_an_unknown_one_too(self, service, operator_id):
        incident_id = await opened_by_operator(service, operator_id)
        response = await service.get(f"/incidents/{incident_id}", headers=as_role(service, "operator", uid("op")))
        assert response.status_code == 404
        assert (await service.get("/incidents/nope", headers=as_role(service, "utility_desk"))).status_code == 404

    async def test_a_sensor_may_not_read(self, service):
        assert (await service.get("/incidents", headers=as_role(service, "sensor"))).status_code == 403

    async def test_an_operator_lists_only_its_own_incidents(self, service, operator_id):
        mine = await opened_by_operator(service, operator_id)
        other = await opened_by_operator(service, uid("op"))
        headers = as_role(service, "operator", operator_id)
        await eventually(lambda: service.svc.views.incident(other), what="projection has both")
        listed = (await service.get("/incidents", headers=headers)).json()
        assert [i["id"] for i in listed["items"]] == [mine]
        snooping = await service.get("/incidents", params={"operator_id": "x"}, headers=headers)
        assert snooping.json()["items"] == []

    async def test_the_utility_filters_and_pages(self, service, operator_id):
        ids = [await opened_by_operator(service, operator_id, severity="critical") for _ in range(3)]
        await opened_by_operator(service, operator_id, severity="low")
        await eventually(lambda: all(service.svc.views.incident(i) for i in ids), what="projection has them")
        params = {"operator_id": operator_id, "severity": "critical", "status": "open", "limit": 2}
        page = (await service.get("/incidents", params=params, headers=as_role(service, "auditor"))).json()
        assert (page["total"], len(page["items"]), page["next_offset"]) == (3, 2, 2)
        rest = (await service.get("/incidents", params=params | {"offset": 2}, headers=as_role(service, "auditor"))).json()
        assert {i["id"] for i in page["items"] + rest["items"]} == set(ids) and rest["next_offset"] is None

    async def test_a_page_larger_than_200_is_refused(self, service):
        response = await service.get("/incidents", params={"limit": 201}, headers=as_role(service, "utility_soc"))
        assert response.status_code == 422


class TestReports:
    async def test_both_parties_file_and_every_revision_is_kept(self, service, operator_id):
        incident_id = await opened_by_operator(service, operator_id)
        url = f"/incidents/{incident_id}/reports/initial"
        first = await service.post(url, json=INITIAL, headers=as_role(service, "operator", operator_id))
        revised = INITIAL | {"response_plan": "全端末の認証情報を失効させる"}
        second = await service.post(url, json=revised, headers=as_role(service, "utility_soc"))
        assert (first.status_code, first.json()["revision"], second.json()["revision"]) == (201, 1, 2)
        detail = (await service.get(f"/incidents/{incident_id}", headers=as_role(service, "utility_desk"))).json()
        revisions = detail["reports"]["initial"]
        assert [(r["revision"], r["filed_by"], r["direction"]) for r in revisions] == [
            (1, "operator", "operator_to_utility"), (2, "utility", "utility_to_operator"),
        ]  # fmt: skip
        assert revisions[0]["impacts"] == INITIAL["impacts"] and revisions[1]["response_plan"] == "全端末の認証情報を失効させる"
        assert {t["operator_id"] for t in detail["timeline"]} == {operator_id}  # the utility's write is for the incident's tenant

    async def test_a_blank_or_missing_field_is_422(self, service, operator_id):
        incident_id = await opened_by_operator(service, operator_id)
        headers = as_role(service, "operator", operator_id)
        url = f"/incidents/{incident_id}/reports/cause"
        assert (await service.post(url, json=CAUSE | {"cause": "  "}, headers=headers)).status_code == 422
        assert (await service.post(url, json={"cause": "x"}, headers=headers)).status_code == 422
        no_impacts = INITIAL | {"impacts": []}
        assert (await service.post(f"/incidents/{incident_id}/reports/initial", json=no_impacts, headers=headers)).status_code == 422

    async def test_another_operator_cannot_file_404_and_the_desk_403(self, service, operator_id):
        incident_id = await opened_by_operator(service, operator_id)
        url = f"/incidents/{incident_id}/reports/cause"
        assert (await service.post(url, json=CAUSE, headers=as_role(service, "operator", uid("op")))).status_code == 404
        assert (await service.post(url, json=CAUSE, headers=as_role(service, "utility_desk"))).status_code == 403

    async def test_a_stale_if_match_is_409(self, service, operator_id):
        incident_id = await opened_by_operator(service, operator_id)
        headers = as_role(service, "operator", operator_id) | {"If-Match": "1"}
        url = f"/incidents/{incident_id}/reports/cause"
        assert (await service.post(url, json=CAUSE, headers=headers)).status_code == 201
        stale = await service.post(url, json=CAUSE, headers=headers)
        assert stale.status_code == 409 and stale.json()["current_version"] == 2

    async def test_a_retried_filing_returns_the_same_revision(self, service, operator_id):
        incident_id = await opened_by_operator(service, operator_id)
        headers = as_role(service, "operator", operator_id) | {"Idempotency-Key": "cause-1"}
        url = f"/incidents/{incident_id}/reports/cause"
        answers = [(await service.post(url, json=CAUSE, headers=headers)).json() for _ in range(2)]
        assert answers[0] == answers[1] == {"revision": 1, "version": 2}


class TestClearing:
    async def test_clearing_before_the_cause_report_is_409_saying_so(self, service, operator_id):
        incident_id = await opened_by_operator(service, operator_id)
        response = await service.post(f"/incidents/{incident_id}/clear", json={"summary": "解消"}, headers=as_role(service, "utility_soc"))
        assert response.status_code == 409 and "cause report" in response.json()["detail"]

    async def test_the_responsible_operator_clears_after_the_cause_report(self, service, operator_id):
        incident_id = await opened_by_operator(service, operator_id)
        headers = as_role(service, "operator", operator_id)
        await with_cause_report(service, incident_id, headers)
        response = await service.post(f"/incidents/{incident_id}/clear", json={"summary": "端末を回収し解消"}, headers=headers)
        assert response.status_code == 200 and response.json()["status"] == "cleared"
        detail = (await service.get(f"/incidents/{incident_id}", headers=headers)).json()
        assert detail["status"] == "cleared" and detail["clearing"]["summary"] == "端末を回収し解消"
        again = await service.post(f"/incidents/{incident_id}/clear", json={"summary": "再度"}, headers=headers)
        assert again.status_code == 409

    async def test_a_stale_if_match_on_clearing_is_409_with_the_current_version(self, service, operator_id):
        incident_id = await opened_by_operator(service, operator_id)
        headers = as_role(service, "operator", operator_id)
        await with_cause_report(service, incident_id, headers)
        stale = await service.post(f"/incidents/{incident_id}/clear", json={"summary": "解消"}, headers=headers | {"If-Match": "1"})
        assert stale.status_code == 409 and stale.json()["current_version"] == 2
        current = await service.post(f"/incidents/{incident_id}/clear", json={"summary": "解消"}, headers=headers | {"If-Match": "2"})
        assert current.status_code == 200 and current.json()["version"] == 3

    async def test_a_retried_clearing_gets_the_first_answer(self, service, operator_id):
        incident_id = await opened_by_operator(service, operator_id)
        headers = as_role(service, "operator", operator_id)
        await with_cause_report(service, incident_id, headers)
        keyed = headers | {"Idempotency-Key": "clear-1"}
        answers = [await service.post(f"/incidents/{incident_id}/clear", json={"summary": "解消"}, headers=keyed) for _ in range(2)]
        assert [a.status_code for a in answers] == [200, 200] and answers[0].json() == answers[1].json()

    async def test_an_operator_may_not_clear_an_incident_in_utility_assets(self, service, operator_id):
        incident_id = await opened_by_operator(service, operator_id, affected_assets=[{"kind": "hes", "id": "HES-1"}])
        headers = as_role(service, "operator", operator_id)
        await with_cause_report(service, incident_id, headers)
        response = await service.post(f"/incidents/{incident_id}/clear", json={"summary": "x"}, headers=headers)
        assert response.status_code == 403 and response.json()["code"] == "forbidden"


class TestNotes:
    async def test_both_parties_attach_notes_that_the_incident_shows_in_order_and_its_timeline_records(self, service, operator_id):
        incident_id = await opened_by_operator(service, operator_id)
        url = f"/incidents/{incident_id}/notes"
        first = await service.post(url, json={"text": "端末の所在を確認中です。"}, headers=as_role(service, "operator", operator_id))
        second = await service.post(url, json={"text": "SOCで通信ログを確認しました。"}, headers=as_role(service, "utility_soc"))
        assert (first.status_code, second.status_code) == (201, 201)
        assert first.json() == {"incident_id": incident_id, "version": 2} and second.json()["version"] == 3
        detail = (await service.get(f"/incidents/{incident_id}", headers=as_role(service, "auditor"))).json()
        notes = [(n["text"], n["attached_by"], n["operator_id"], n["author"]["role"]) for n in detail["notes"]]
        assert notes == [("端末の所在を確認中です。", "operator", operator_id, "operator"), ("SOCで通信ログを確認しました。", "utility", None, "utility_soc")]
        assert detail["note_count"] == 2 and [t["type"] for t in detail["timeline"]][-2:] == ["IncidentNoteAttached"] * 2

    async def test_a_note_on_another_tenants_incident_is_404_and_roles_that_do_not_write_get_403(self, service, operator_id):
        incident_id = await opened_by_operator(service, operator_id)
        url = f"/incidents/{incident_id}/notes"
        assert (await service.post(url, json={"text": "x"}, headers=as_role(service, "operator", uid("op")))).status_code == 404
        for role in ("utility_desk", "auditor", "sensor"):
            assert (await service.post(url, json={"text": "x"}, headers=as_role(service, role))).status_code == 403, role
        assert (await service.post("/incidents/nope/notes", json={"text": "x"}, headers=as_role(service, "utility_soc"))).status_code == 404

    async def test_a_blank_or_too_long_note_is_422_and_a_cleared_incident_takes_no_note_409(self, service, operator_id):
        incident_id = await opened_by_operator(service, operator_id)
        headers, url = as_role(service, "operator", operator_id), f"/incidents/{incident_id}/notes"
        for body in ({"text": "  "}, {"text": "あ" * 4001}, {"text": "x", "colour": "red"}, {}):
            assert (await service.post(url, json=body, headers=headers)).status_code == 422, body
        assert (await service.post(url, json={"text": "あ" * 4000}, headers=headers)).status_code == 201
        await with_cause_report(service, incident_id, headers)
        assert (await service.post(f"/incidents/{incident_id}/clear", json={"summary": "解消"}, headers=headers)).status_code == 200
        assert (await service.post(url, json={"text": "後から"}, headers=headers)).status_code == 409

    async def test_a_retried_note_gets_the_first_answer_and_is_recorded_once(self, service, operator_id):
        incident_id = await opened_by_operator(service, operator_id)
        headers = as_role(service, "operator", operator_id) | {"Idempotency-Key": "note-1"}
        url = f"/incidents/{incident_id}/notes"
        answers = [(await service.post(url, json={"text": "一度だけ"}, headers=headers)).json() for _ in range(2)]
        assert answers[0] == answers[1] == {"incident_id": incident_id, "version": 2}
        detail = (await service.get(f"/incidents/{incident_id}", headers=headers)).json()
        assert [n["text"] for n in detail["notes"]] == ["一度だけ"]

    async def test_an_operator_sees_the_utilitys_notes_and_its_own_never_another_operators(self, service, operator_id):
        response = await service.post("/vulnerabilities", json=VULNERABILITY, headers=as_role(service, "utility_soc"))
        incident_id = response.json()["incident_id"]
        other_op = uid("op")
        async with connection_service(service.settings) as connections:
            for operator in (operator_id, other_op):
                connection = "c-" + operator
                await connections.append(connection, [connection_registered(connection, operator), connection_blocked(connection, operator, incident_id)])
        await eventually(lambda: len(service.svc.directory.blocked_for(incident_id)) == 2, what="blocks are known")
        url = f"/incidents/{incident_id}/notes"
        for text, headers in (("全事業者へ", as_role(service, "utility_soc")), ("自社の対応", as_role(service, "operator", operator_id)),
                              ("他社の対応", as_role(service, "operator", other_op))):  # fmt: skip
            assert (await service.post(url, json={"text": text}, headers=headers)).status_code == 201
        mine = (await service.get(f"/incidents/{incident_id}", headers=as_role(service, "operator", operator_id))).json()
        assert [n["text"] for n in mine["notes"]] == ["全事業者へ", "自社の対応"]
        everyone = (await service.get(f"/incidents/{incident_id}", headers=as_role(service, "utility_desk"))).json()
        assert [n["text"] for n in everyone["notes"]] == ["全事業者へ", "自社の対応", "他社の対応"]


class TestAnomalies:
    async def test_the_first_signal_opens_later_ones_attach_and_duplicates_are_recognised(self, service, operator_id):
        connection_id = await known_connection(service, operator_id)
        headers = as_role(service, "sensor")
        first = await service.post("/anomalies", json=anomaly_body(connection_id, "sig-a"), headers=headers)
        second = await service.post("/anomalies", json=anomaly_body(connection_id, "sig-b"), headers=headers)
        duplicate = await service.post("/anomalies", json=anomaly_body(connection_id, "sig-a"), headers=headers)
        assert first.status_code == second.status_code == duplicate.status_code == 202
        incident_id = first.json()["incident_id"]
        assert [(r.json()["incident_id"], r.json()["attached"], r.json()["duplicate"]) for r in (first, second, duplicate)] == [
            (incident_id, False, False), (incident_id, True, False), (incident_id, True, True),
        ]  # fmt: skip
        detail = (await service.get(f"/incidents/{incident_id}", headers=as_role(service, "operator", operator_id))).json()
        assert (detail["origin"], detail["category"], detail["connection_id"]) == ("anomaly", "unauthorized_access", connection_id)
        assert detail["anomaly_count"] == 2 and detail["anomalies"][0]["evidence"] == {"ルール": "HES-17", "count": 3}

    async def test_a_view_keeps_the_latest_anomalies_and_timeline_and_every_anomaly_is_a_page_away(self, service, operator_id):
        connection_id = await known_connection(service, operator_id)
        sensor = as_role(service, "sensor")
        first = await service.post("/anomalies", json=anomaly_body(connection_id, "sig-0"), headers=sensor)
        answers = await asyncio.gather(
            *(service.post("/anomalies", json=anomaly_body(connection_id, f"sig-{n}"), headers=sensor) for n in range(1, 205))
        )
        assert {a.status_code for a in answers} == {202}
        url = f"/incidents/{first.json()['incident_id']}"
        detail = (await service.get(url, headers=as_role(service, "utility_desk"))).json()
        assert (detail["anomaly_count"], len(detail["anomalies"]), detail["anomalies_truncated"]) == (205, 20, True)
        assert (detail["timeline_count"], len(detail["timeline"]), detail["timeline_truncated"]) == (206, 200, True)
        assert detail["timeline"][-1]["sequence"] == 206
        mine = as_role(service, "operator", operator_id)
        pages = [(await service.get(f"{url}/anomalies", params={"offset": o, "limit": 100}, headers=mine)).json() for o in (0, 100, 200)]
        assert [(p["total"], len(p["items"]), p["next_offset"]) for p in pages] == [(205, 100, 100), (205, 100, 200), (205, 5, None)]
        assert pages[0]["items"][0]["signal_id"] == "sig-0" and not pages[0]["items"][0]["attached"]
        assert {i["signal_id"] for p in pages for i in p["items"]} == {f"sig-{n}" for n in range(205)}
        assert detail["anomalies"] == [*pages[1]["items"], *pages[2]["items"]][-20:]

    async def test_the_anomalies_of_an_incident_are_as_visible_as_the_incident_and_pages_are_bounded(self, service, operator_id):
        connection_id = await known_connection(service, operator_id)
        accepted = await service.post("/anomalies", json=anomaly_body(connection_id, "sig-a"), headers=as_role(service, "sensor"))
        url = f"/incidents/{accepted.json()['incident_id']}/anomalies"
        assert (await service.get(url, headers=as_role(service, "operator", operator_id))).json()["total"] == 1
        assert (await service.get(url, headers=as_role(service, "operator", uid("op")))).status_code == 404
        assert (await service.get(url, headers=as_role(service, "sensor"))).status_code == 403
        assert (await service.get(url, params={"limit": 501}, headers=as_role(service, "auditor"))).status_code == 422
        assert (await service.get("/incidents/nope/anomalies", headers=as_role(service, "auditor"))).status_code == 404

    async def test_an_unknown_connection_is_422(self, service):
        response = await service.post("/anomalies", json=anomaly_body("conn-unknown", "sig-x"), headers=as_role(service, "sensor"))
        assert response.status_code == 422 and "unknown connection" in response.json()["detail"]

    async def test_an_operator_may_not_post_anomalies(self, service, operator_id):
        response = await service.post("/anomalies", json=anomaly_body("c", "sig-x"), headers=as_role(service, "operator", operator_id))
        assert response.status_code == 403


class TestVulnerabilities:
    async def test_only_the_soc_declares_and_a_bad_range_is_422(self, service, operator_id):
        assert (await service.post("/vulnerabilities", json=VULNERABILITY, headers=as_role(service, "operator", operator_id))).status_code == 403
        bad = VULNERABILITY | {"firmware": ">=1.0,,<"}
        assert (await service.post("/vulnerabilities", json=bad, headers=as_role(service, "utility_soc"))).status_code == 422

    async def test_a_firmware_list_is_no_readable_range_and_is_422_a_range_of_conditions_is_201(self, service):
        # One rule with the connection service (shared.firmware): "1.0,2.0" is a range it could never match.
        soc = as_role(service, "utility_soc")
        refused = await service.post("/vulnerabilities", json=VULNERABILITY | {"firmware": "1.0,2.0"}, headers=soc)
        assert refused.status_code == 422 and "range" in refused.json()["detail"]
        accepted = await service.post("/vulnerabilities", json=VULNERABILITY | {"firmware": ">=1.0,<2.0"}, headers=soc)
        assert accepted.status_code == 201
        detail = await service.get(f"/incidents/{accepted.json()['incident_id']}", headers=soc)
        assert detail.json()["vulnerability"]["firmware"] == ">=1.0,<2.0"
        assert len(incidents_decided(service)) == 1

    async def test_an_operator_sees_and_reports_on_it_once_its_connection_is_blocked(self, service, operator_id):
        response = await service.post("/vulnerabilities", json=VULNERABILITY, headers=as_role(service, "utility_soc"))
        assert response.status_code == 201
        incident_id = response.json()["incident_id"]
        headers, stranger = as_role(service, "operator", operator_id), as_role(service, "operator", uid("op"))
        assert (await service.get(f"/incidents/{incident_id}", headers=headers)).status_code == 404
        connection_id, other_op = uid("conn"), uid("op")
        async with connection_service(service.settings) as connections:
            for connection, operator in ((connection_id, operator_id), ("c-" + other_op, other_op)):
                await connections.append(
                    connection, [connection_registered(connection, operator), connection_blocked(connection, operator, incident_id)]
                )
        directory = service.svc.directory
        await eventually(lambda: len(directory.blocked_for(incident_id)) == 2, what="blocks are known")
        detail = (await service.get(f"/incidents/{incident_id}", headers=headers)).json()
        assert detail["vulnerability"]["firmware"] == ">=1.0,<1.4" and detail["operator_ids"] == [operator_id]
        assert detail["blocked_connections"] == [{"connection_id": connection_id, "operator_id": operator_id}]
        assert detail["blocked_count"] == 1
        listed = (await service.get("/incidents", params={"status": "open"}, headers=headers)).json()
        assert [(i["id"], i["operator_ids"]) for i in listed["items"]] == [(incident_id, [operator_id])]
        everyone = (await service.get(f"/incidents/{incident_id}", headers=as_role(service, "utility_desk"))).json()
        assert everyone["blocked_count"] == 2 and everyone["operator_ids"] == sorted([operator_id, other_op])
        filed = await service.post(f"/incidents/{incident_id}/reports/initial", json=INITIAL, headers=headers)
        assert filed.status_code == 201
        assert (await service.get(f"/incidents/{incident_id}", headers=stranger)).status_code == 404
        await with_cause_report(service, incident_id, headers)
        assert (await service.post(f"/incidents/{incident_id}/clear", json={"summary": "x"}, headers=headers)).status_code == 403
        cleared = await service.post(f"/incidents/{incident_id}/clear", json={"summary": "修正版を配布"}, headers=as_role(service, "utility_soc"))
        assert cleared.status_code == 200
