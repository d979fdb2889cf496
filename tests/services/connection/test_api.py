"""Each route of the connection service: 2xx, 401, 403, 404 (another tenant), 409 and 422."""

from __future__ import annotations

from tests.factories import bearer, eventually, incident_opened, serving, uid
from tests.services.connection.helpers import (
    app_for,
    cleared,
    connection_body,
    incident_writer,
    known_incident,
    onboard,
    register,
)


class TestOperators:
    async def test_the_soc_onboards_once_and_others_may_not(self, settings):
        async with serving(app_for(settings)) as client:
            body = {"operator_id": uid("op"), "name": "中部テスト電力サービス", "agreement_date": "2025-04-01"}
            soc = bearer(settings, "utility_soc")
            assert (await client.post("/operators", json=body)).status_code == 401
            assert (await client.post("/operators", json=body, headers=bearer(settings, "operator", "x"))).status_code == 403
            assert (await client.post("/operators", json={**body, "agreement_date": "soon"}, headers=soc)).status_code == 422
            assert (await client.post("/operators", json={**body, "operator_id": "conn x"}, headers=soc)).status_code == 422
            assert (await client.post("/operators", json={**body, "operator_id": "block-policy"}, headers=soc)).status_code == 422
            japanese = {**body, "operator_id": uid("事業者")}
            assert (await client.post("/operators", json=japanese, headers=soc)).status_code == 201
            created = await client.post("/operators", json=body, headers=soc)
            assert created.status_code == 201 and created.json()["id"] == body["operator_id"]
            assert (await client.post("/operators", json=body, headers=soc)).status_code == 409

    async def test_a_retried_onboarding_answers_as_the_first_did(self, settings):
        async with serving(app_for(settings)) as client:
            body = {"operator_id": uid("op"), "name": "再送テスト", "agreement_date": "2025-04-01"}
            headers = {**bearer(settings, "utility_soc"), "Idempotency-Key": "onboard-1"}
            first = await client.post("/operators", json=body, headers=headers)
            again = await client.post("/operators", json=body, headers=headers)
            assert first.status_code == again.status_code == 201 and first.json() == again.json()


class TestRegisterConnection:
    async def test_an_operator_registers_for_itself_and_the_soc_names_the_operator(self, settings):
        async with serving(app_for(settings)) as client:
            mine, other = uid("op"), uid("op")
            for operator in (mine, other):
                await onboard(client, settings, operator)
            staff = bearer(settings, "operator", mine)
            assert (await client.post("/connections", json=connection_body())).status_code == 401
            sensor = await client.post("/connections", json=connection_body(), headers=bearer(settings, "sensor"))
            assert sensor.status_code == 403
            forged = await client.post("/connections", json=connection_body(operator_id=other), headers=staff)
            assert forged.status_code == 403
            created = await client.post("/connections", json=connection_body(), headers=staff)
            assert created.status_code == 201
            soc = bearer(settings, "utility_soc")
            by_soc = await client.post("/connections", json=connection_body(operator_id=other), headers=soc)
            assert by_soc.status_code == 201
            no_operator = await client.post("/connections", json=connection_body(), headers=soc)
            assert no_operator.status_code == 422

    async def test_bad_input_is_a_422_naming_the_rule(self, settings):
        async with serving(app_for(settings)) as client:
            operator = uid("op")
            staff = bearer(settings, "operator", operator)
            not_onboarded = await client.post("/connections", json=connection_body(), headers=staff)
            assert not_onboarded.status_code == 422 and "onboarded" in not_onboarded.json()["detail"]
            await onboard(client, settings, operator)
            utility_kind = await client.post("/connections", json=connection_body(kind="hes"), headers=staff)
            assert utility_kind.status_code == 422 and "part 4" in utility_kind.json()["detail"]
            unknown_kind = await client.post("/connections", json=connection_body(kind="toaster"), headers=staff)
            assert unknown_kind.status_code == 422 and unknown_kind.json()["code"] == "invalid_input"
            assert (await client.post("/connections", json=connection_body(maker=""), headers=staff)).status_code == 422

    async def test_an_idempotency_key_gives_the_first_answer(self, settings):
        async with serving(app_for(settings)) as client:
            operator = uid("op")
            await onboard(client, settings, operator)
            headers = {**bearer(settings, "operator", operator), "Idempotency-Key": "k-1"}
            first = await client.post("/connections", json=connection_body(), headers=headers)
            second = await client.post("/connections", json=connection_body(), headers=headers)
            assert first.json()["id"] == second.json()["id"]


class TestReadConnections:
    async def test_operators_see_only_their_tenant(self, settings):
        async with serving(app_for(settings)) as client:
            mine, other = uid("op"), uid("op")
            for operator in (mine, other):
                await onboard(client, settings, operator)
            own = await register(client, settings, mine)
            foreign = await register(client, settings, other)
            staff = bearer(settings, "operator", mine)
            assert (await client.get(f"/connections/{own}")).status_code == 401
            assert (await client.get(f"/connections/{own}", headers=bearer(settings, "sensor"))).status_code == 403
            assert (await client.get(f"/connections/{own}", headers=staff)).status_code == 200
            assert (await client.get(f"/connections/{foreign}", headers=staff)).status_code == 404
            assert (await client.get("/connections/conn-nope", headers=staff)).status_code == 404
            listed = (await client.get("/connections", headers=staff)).json()
            assert [c["id"] for c in listed["items"]] == [own]
            snooping = (await client.get("/connections", params={"operator_id": other}, headers=staff)).json()
            assert snooping["items"] == []
            auditor = (await client.get("/connections", headers=bearer(settings, "auditor"))).json()
            assert {own, foreign} <= {c["id"] for c in auditor["items"]}

    async def test_the_list_is_filtered_and_paged_within_bounds(self, settings):
        async with serving(app_for(settings)) as client:
            operator = uid("op")
            await onboard(client, settings, operator)
            ids = [await register(client, settings, operator) for _ in range(3)]
            soc = bearer(settings, "utility_soc")
            page = (await client.get("/connections", params={"operator_id": operator, "limit": 2}, headers=soc)).json()
            assert [c["id"] for c in page["items"]] == ids[:2] and page["next_offset"] == 2 and page["total"] == 3
            blocked = await client.get("/connections", params={"status": "blocked"}, headers=soc)
            assert blocked.json()["total"] == 0
            assert (await client.get("/connections", params={"limit": 501}, headers=soc)).status_code == 422
            assert (await client.get("/connections", params={"status": "gone"}, headers=soc)).status_code == 422


class TestBlockAndApprove:
    async def test_block_and_approval_routes(self, settings):
        app = app_for(settings)
        async with serving(app) as client, incident_writer(settings) as feed:
            mine, other = uid("op"), uid("op")
            for operator in (mine, other):
                await onboard(client, settings, operator)
            own, foreign = await register(client, settings, mine), await register(client, settings, other)
            incident = uid("inc")
            await feed.append(incident, [incident_opened(incident, mine)])
            await eventually(lambda: known_incident(app, incident), what="incident known")
            soc, staff = bearer(settings, "utility_soc"), bearer(settings, "operator", mine)
            block = {"reason": "serious_vulnerability", "incident_id": incident, "note": "脆弱性"}
            assert (await client.post(f"/connections/{own}/block", json=block)).status_code == 401
            assert (await client.post(f"/connections/{own}/block", json=block, headers=staff)).status_code == 403
            assert (await client.post("/connections/conn-nope/block", json=block, headers=soc)).status_code == 404
            bad = {**block, "reason": "boredom"}
            assert (await client.post(f"/connections/{own}/block", json=bad, headers=soc)).status_code == 422
            unknown = {**block, "incident_id": "inc-unknown"}
            assert (await client.post(f"/connections/{own}/block", json=unknown, headers=soc)).status_code == 422
            done = await client.post(f"/connections/{own}/block", json=block, headers=soc)
            assert done.status_code == 201 and done.json()["status"] == "blocked"
            assert (await client.post(f"/connections/{own}/block", json=block, headers=soc)).status_code == 409

            assert (await client.post(f"/connections/{own}/approvals", json={})).status_code == 401
            desk = bearer(settings, "utility_desk")
            assert (await client.post(f"/connections/{own}/approvals", json={}, headers=desk)).status_code == 403
            assert (await client.post(f"/connections/{foreign}/approvals", json={}, headers=staff)).status_code == 404
            assert (await client.post(f"/connections/{own}/approvals", json={"x": 1}, headers=staff)).status_code == 422
            early = await client.post(f"/connections/{own}/approvals", json={}, headers=staff)
            assert early.status_code == 409 and incident in early.json()["detail"]
            await feed.append(incident, cleared(incident))
            approve = await eventually(
                lambda: _approved(client, own, staff), what="approval accepted after clearing"
            )
            assert approve.json()["party"] == "operator"
            assert (await client.post(f"/connections/{own}/approvals", json={}, headers=staff)).status_code == 409
            bulk = await client.post(f"/incidents/{incident}/approvals", json={}, headers=soc)
            assert bulk.status_code == 200 and bulk.json()["reconnected"] == [own]
            assert (await client.post("/incidents/inc-none/approvals", json={}, headers=soc)).status_code == 404
            foreign_staff = bearer(settings, "operator", other)
            assert (await client.post(f"/incidents/{incident}/approvals", json={}, headers=foreign_staff)).status_code == 404

    async def test_rotating_secrets_is_for_the_connection_operator_and_the_soc(self, settings):
        async with serving(app_for(settings)) as client:
            mine, other = uid("op"), uid("op")
            for operator in (mine, other):
                await onboard(client, settings, operator)
            own = await register(client, settings, mine)
            secrets = {"auth_id": "AUTH-0000-NEW1", "password": "pw-新-1", "pairing_id": "PAIR-0000-NEW1"}
            path = f"/connections/{own}/secrets"
            assert (await client.post(path, json=secrets)).status_code == 401
            assert (await client.post(path, json=secrets, headers=bearer(settings, "auditor"))).status_code == 403
            assert (await client.post(path, json=secrets, headers=bearer(settings, "operator", other))).status_code == 404
            assert (await client.post(path, json={**secrets, "password": ""}, headers=bearer(settings, "utility_soc"))).status_code == 422
            done = await client.post(path, json=secrets, headers=bearer(settings, "utility_soc"))
            assert done.status_code == 200 and done.json()["secrets"]["auth_id"] == "…W1"  # at most the last two characters


class TestIfMatch:
    async def test_writes_on_a_connection_answer_409_with_the_current_version_when_it_moved_on(self, settings):
        async with serving(app_for(settings)) as client:
            operator = uid("op")
            await onboard(client, settings, operator)
            connection_id = await register(client, settings, operator)
            soc = bearer(settings, "utility_soc")
            secrets = {"auth_id": "AUTH-0000-NEW1", "password": "pw-新-1", "pairing_id": "PAIR-0000-NEW1"}
            path = f"/connections/{connection_id}"
            stale = await client.post(f"{path}/secrets", json=secrets, headers={**soc, "If-Match": "0"})
            assert stale.status_code == 409 and stale.json()["current_version"] == 1
            fresh = await client.post(f"{path}/secrets", json=secrets, headers={**soc, "If-Match": '"1"'})
            assert fresh.status_code == 200 and fresh.json()["version"] == 2
            block = {"reason": "unauthorized_access", "incident_id": uid("inc"), "note": ""}
            for route, body in ((f"{path}/block", block), (f"{path}/approvals", {})):
                answer = await client.post(route, json=body, headers={**soc, "If-Match": "1"})
                assert answer.status_code == 409 and answer.json()["current_version"] == 2, route
            unreadable = await client.post(f"{path}/approvals", json={}, headers={**soc, "If-Match": "soon"})
            assert unreadable.status_code == 422

    async def test_the_policy_is_changed_only_at_the_version_the_caller_saw(self, settings):
        async with serving(app_for(settings)) as client:
            soc = bearer(settings, "utility_soc")
            change = {"abnormal_communication": "off"}
            stale = await client.put("/block-policy", json=change, headers={**soc, "If-Match": "3"})
            assert stale.status_code == 409 and stale.json()["current_version"] == 0
            assert (await client.put("/block-policy", json=change, headers={**soc, "If-Match": "0"})).status_code == 200
            assert (await client.put("/block-policy", json=change, headers={**soc, "If-Match": "0"})).status_code == 409


class TestPolicyAndRecommendations:
    async def test_the_policy_is_read_and_set_by_the_soc(self, settings):
        async with serving(app_for(settings)) as client:
            soc = bearer(settings, "utility_soc")
            assert (await client.get("/block-policy")).status_code == 401
            assert (await client.get("/block-policy", headers=bearer(settings, "operator", "x"))).status_code == 403
            assert (await client.get("/block-policy", headers=soc)).json() == {
                "serious_vulnerability": "auto", "unauthorized_access": "auto", "abnormal_communication": "recommend",
            }
            desk = bearer(settings, "utility_desk")
            assert (await client.put("/block-policy", json={"unauthorized_access": "off"}, headers=desk)).status_code == 403
            assert (await client.put("/block-policy", json={"unauthorized_access": "maybe"}, headers=soc)).status_code == 422
            assert (await client.put("/block-policy", json={"lunch": "auto"}, headers=soc)).status_code == 422
            assert (await client.put("/block-policy", json={}, headers=soc)).status_code == 422
            changed = await client.put("/block-policy", json={"unauthorized_access": "recommend"}, headers=soc)
            assert changed.status_code == 200 and changed.json()["unauthorized_access"] == "recommend"
            assert (await client.get("/block-policy", headers=soc)).json()["serious_vulnerability"] == "auto"

    async def test_recommendation_routes_are_the_socs(self, settings):
        async with serving(app_for(settings)) as client:
            soc = bearer(settings, "utility_soc")
            assert (await client.get("/block-recommendations")).status_code == 401
            staff = bearer(settings, "operator", "x")
            assert (await client.get("/block-recommendations", headers=staff)).status_code == 403
            assert (await client.get("/block-recommendations", headers=soc)).json() == []
            assert (await client.post("/block-recommendations/nope/confirm", json={}, headers=staff)).status_code == 403
            assert (await client.post("/block-recommendations/nope/confirm", json={}, headers=soc)).status_code == 404
            assert (await client.post("/block-recommendations/nope/reject", json={"n": 1}, headers=soc)).status_code == 422


async def _approved(client, connection_id, headers):
    response = await client.post(f"/connections/{connection_id}/approvals", json={"note": "問題なし"}, headers=headers)
    return response if response.status_code == 201 else None
