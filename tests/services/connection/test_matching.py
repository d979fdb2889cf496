"""``GET /connections/matching``: a vulnerability's reach before it is declared — by the very rule that blocks the
units when it is declared, read from the read model's tags, for the SOC only."""

from __future__ import annotations

from datetime import date

import pytest

from services.connection.application import queries
from services.connection.application.handlers import onboard_operator, register_connection
from services.connection.domain.commands import OnboardOperator, RegisterConnection
from services.connection.domain.matching import VulnerabilityCriteria
from services.connection.projections.directory import CONNECTIONS
from services.connection.projections.views import Views
from shared.domain import Invalid
from shared.eventstore import Context
from shared.firmware import Firmware
from tests.factories import bearer, serving, uid
from tests.services.connection.helpers import SECRETS, SOC, Harness, app_for, in_memory, onboard, register, vulnerability

FLEET = [  # operator, kind, maker, model, firmware, meter
    ("op-a", "special_meter", "東海計器", "TK-100", "2.1.0", "sm-1"),
    ("op-a", "special_meter", "東海計器", "TK-100", "2.2.5", "sm-2"),
    ("op-a", "special_meter", "東海計器", "TK-100", "2.3.0", "sm-3"),  # outside the range
    ("op-b", "special_meter", "とうかい計器", "TK-100", "2.1.0", "sm-4"),  # another maker
    ("op-b", "special_meter", "東海計器", "tk-100", "2.2.0", "sm-1"),  # the model differs only in case: matches
    ("op-b", "wireless_terminal", "東海計器", "TK-100", "2.1.0", "sm-5"),  # another kind
    ("op-c", "special_meter", "東海計器", "TK-200", "2.1.0", "sm-6"),  # another model
]


async def fleet(tmp_path) -> tuple[Harness, list[str]]:  # type: ignore[no-untyped-def]
    h = await in_memory(tmp_path)
    for operator in ("op-b", "op-c"):
        await onboard_operator(h.service, OnboardOperator(operator, operator, date(2025, 4, 1)), context=Context())
    await h.sync()
    ids = []
    for operator, kind, maker, model, firmware, meter in FLEET:
        cmd = RegisterConnection(kind=kind, maker=maker, model=model, firmware=firmware, smart_meter_ids=(meter,),
                                 operator_id=operator)  # fmt: skip
        ids.append((await register_connection(h.service, cmd, SECRETS, by=SOC, context=Context())).aggregate_id)
    await h.sync()
    return h, ids


def blocked(h: Harness, incident_id: str) -> set[str]:
    return set(queries.connections_blocked_by(h.service, SOC, incident_id))


class TestTheSameRuleAsTheBlock:
    @pytest.mark.parametrize(
        "criteria, meters",
        [
            ({"asset_kind": "special_meter", "maker": "東海計器", "model": "TK-100", "firmware": ">=2.1,<2.3"}, []),
            ({"asset_kind": "special_meter", "model": "TK-100", "firmware": "2.1.0"}, []),
            ({"asset_kind": "special_meter", "maker": "東海計器", "firmware": None}, []),
            ({"asset_kind": "smart_meter", "maker": "X", "model": "SM-9", "firmware": "1.0"}, ["sm-1", "sm-5"]),
            ({"asset_kind": "smart_meter", "maker": "X", "model": "SM-9", "firmware": "1.0"}, []),
        ],
        ids=["range", "exact-any-maker", "maker-only", "utility-side-meters", "utility-side-without-meters"],
    )
    async def test_the_preview_counts_exactly_the_connections_the_declaration_then_blocks(self, tmp_path, criteria, meters):
        h, _ = await fleet(tmp_path)
        reach = queries.vulnerability_reach(
            h.service,
            VulnerabilityCriteria(criteria["asset_kind"], criteria.get("maker"), criteria.get("model"), Firmware(criteria["firmware"])),
            meters,
        )  # fmt: skip
        incident = uid("vuln")
        await h.react(vulnerability(incident, **criteria, smart_meter_ids=meters))
        hit = blocked(h, incident)
        assert reach["connections"] == len(hit)
        owners = {}
        for connection_id in hit:
            operator = queries.connection(h.service, SOC, connection_id)["operator_id"]
            owners[operator] = owners.get(operator, 0) + 1
        assert reach["operators"] == len(owners)
        assert {r["operator_id"]: r["connections"] for r in reach["by_operator"]} == owners
        assert reach["policy"] == "auto" and reach["complete"] is True

    async def test_the_range_example_counts_per_operator_the_largest_first(self, tmp_path):
        h, _ = await fleet(tmp_path)
        criteria = VulnerabilityCriteria("special_meter", "東海計器", "TK-100", Firmware(">=2.1,<2.3"))
        reach = queries.vulnerability_reach(h.service, criteria, [])
        assert reach["connections"] == 3 and reach["operators"] == 2
        assert reach["by_operator"] == [{"operator_id": "op-a", "connections": 2}, {"operator_id": "op-b", "connections": 1}]

    def test_an_unreadable_range_is_refused_before_anything_is_read(self):
        with pytest.raises(Invalid):
            Firmware("1.0,2.0")


class TestReadModelsKeptBeforeTheTags:
    async def test_connection_documents_without_model_and_meter_tags_are_tagged_when_the_views_open(self, tmp_path):
        h, ids = await fleet(tmp_path)
        h.views.db.execute("DELETE FROM tags WHERE coll = ? AND name IN ('model', 'meter')", (CONNECTIONS,))
        reopened = Views(h.views.path)
        _, total = reopened.docs.query(CONNECTIONS, where={"model": "special_meter|東海計器|tk-100"})
        assert total == 4  # op-a's three and op-b's lower-case model
        _, on_meter = reopened.docs.query(CONNECTIONS, where={"meter": "sm-1"})
        assert on_meter == 2
        reopened.close()


async def test_the_route_answers_the_soc_only_and_counts_per_operator(settings):
    async with serving(app_for(settings)) as client:
        maker = uid("maker")  # this test's fleet only, whatever else the topics hold
        a, b = uid("op"), uid("op")
        for operator in (a, b):
            await onboard(client, settings, operator)
        for operator, firmware in ((a, "1.2.0"), (a, "1.3.0"), (b, "1.2.5"), (b, "2.0.0")):
            await register(client, settings, operator, maker=maker, model="TK-9", firmware=firmware)
        params = {"asset_kind": "special_meter", "maker": maker, "model": "tk-9", "firmware": ">=1.2,<2"}
        assert (await client.get("/connections/matching", params=params)).status_code == 401
        for role, operator in (("utility_desk", None), ("auditor", None), ("operator", a), ("sensor", None)):
            refused = await client.get("/connections/matching", params=params, headers=bearer(settings, role, operator))
            assert refused.status_code == 403, role
        soc = bearer(settings, "utility_soc")
        answer = await client.get("/connections/matching", params=params, headers=soc)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["connections"] == 3 and body["operators"] == 2 and body["complete"] is True
        assert body["by_operator"] == [{"operator_id": a, "connections": 2}, {"operator_id": b, "connections": 1}]
        assert body["policy"] in ("auto", "recommend", "off")
        bad = await client.get("/connections/matching", params={**params, "firmware": "1.0,2.0"}, headers=soc)
        assert bad.status_code == 422 and "range" in bad.text
        missing = await client.get("/connections/matching", params={"maker": maker}, headers=soc)
        assert missing.status_code == 422
        # a path segment that is not a connection id still reads one connection
        assert (await client.get("/connections/conn-nope", headers=soc)).status_code == 404
