"""``GET /operators`` on the real broker: every onboarded operator for utility roles and auditors, only itself for
an operator, in id order and one bounded page at a time."""

from __future__ import annotations

from services.connection.bootstrap import build_app
from tests.factories import bearer, serving, uid
from tests.services.connection.helpers import own_settings


async def test_utility_roles_and_auditors_see_every_operator_an_operator_only_itself(settings):
    async with serving(build_app(settings, own_settings(None))) as client:
        onboarded = {}
        for n, day in enumerate(("2024-04-01", "2024-05-01", "2025-01-15")):
            operator = uid(f"op{n}")
            body = {"operator_id": operator, "name": f"中部テスト事業者 {n} 株式会社", "agreement_date": day}
            assert (await client.post("/operators", json=body, headers=bearer(settings, "utility_soc"))).status_code == 201
            onboarded[operator] = body
        ids = sorted(onboarded)

        for role in ("utility_soc", "utility_desk", "auditor"):
            answer = await client.get("/operators", headers=bearer(settings, role))
            assert answer.status_code == 200, role
            page = answer.json()
            assert [row["operator_id"] for row in page["items"]] == ids, role
            assert page["total"] == 3 and page["next_offset"] is None
            first = page["items"][0]
            assert (first["name"], first["agreement_date"]) == (onboarded[ids[0]]["name"], onboarded[ids[0]]["agreement_date"])
            assert first["version"] == 1

        first_page = (await client.get("/operators", params={"limit": 2}, headers=bearer(settings, "auditor"))).json()
        assert [row["operator_id"] for row in first_page["items"]] == ids[:2] and first_page["next_offset"] == 2
        rest = (await client.get("/operators", params={"offset": 2, "limit": 2}, headers=bearer(settings, "auditor"))).json()
        assert [row["operator_id"] for row in rest["items"]] == ids[2:] and rest["next_offset"] is None

        mine = ids[1]
        own = (await client.get("/operators", headers=bearer(settings, "operator", mine))).json()
        assert [row["operator_id"] for row in own["items"]] == [mine] and own["total"] == 1
        stranger = (await client.get("/operators", headers=bearer(settings, "operator", uid("op-not-onboarded")))).json()
        assert stranger["items"] == [] and stranger["total"] == 0

        assert (await client.get("/operators")).status_code == 401
        assert (await client.get("/operators", headers=bearer(settings, "sensor"))).status_code == 403
        assert (await client.get("/operators", params={"limit": 501}, headers=bearer(settings, "auditor"))).status_code == 422
        assert "/operators" in (await client.get("/openapi.json")).json()["paths"]
