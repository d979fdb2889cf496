"""The audit API and commands on a real broker: roles, tenancy, proofs, tampering, replay, verify."""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import sqlite3
from datetime import datetime, timezone

import httpx
import pytest

from services.audit.bootstrap import build_app
from services.audit.config import log_db_path
from services.audit.domain.verifier import verify_inclusion
from services.audit.entrypoints import cli_dossier, cli_verify
from shared.cli import replay
from tests.factories import bearer, eventually, listening, serving
from tests.services.audit.helpers import all_entries, at_least, produce_one_of_each


async def logged(client, settings, n=6):
    return await eventually(lambda: at_least(all_entries(client, settings), n), what=f"{n} entries")


def logged_size(app) -> int:
    return app.state.service.log.logs.total_size()


class TestAccess:
    async def test_roles_and_tenants(self, settings):
        ids = await produce_one_of_each(settings)
        async with serving(build_app(settings)) as client:
            await logged(client, settings)
            no_token = await client.get("/audit/entries")
            sensor = await client.get("/audit/entries", headers=bearer(settings, "sensor"))
            operator_verify = await client.get("/audit/verify", headers=bearer(settings, "operator", ids["operator"]))
            own = await client.get("/audit/entries", headers=bearer(settings, "operator", ids["operator"]))
            other = await client.get("/audit/entries", headers=bearer(settings, "operator", "someone-else"))
            desk = await client.get("/audit/verify", headers=bearer(settings, "utility_desk"))
            bad = await client.get("/audit/entries", params={"limit": 0}, headers=bearer(settings, "auditor"))
        assert no_token.status_code == 401
        assert sensor.status_code == 403 and operator_verify.status_code == 403
        assert len(own.json()["items"]) == 6 and other.json()["items"] == []
        assert desk.status_code == 200 and desk.json()["ok"] is True
        assert bad.status_code == 422

    async def test_entries_filter_by_subject_and_type(self, settings):
        ids = await produce_one_of_each(settings)
        async with serving(build_app(settings)) as client:
            await logged(client, settings)
            answer = await client.get("/audit/entries", params={"subject": ids["connection"], "type": "ConnectionBlocked"},
                                      headers=bearer(settings, "auditor"))
        assert [e["type"] for e in answer.json()["items"]] == ["ConnectionBlocked"]

    async def test_readiness_and_parked_events_see_the_log_consumer(self, settings):
        async with serving(build_app(settings)) as client:
            ready = await eventually(lambda: _ready(client), what="ready")
            parked = await client.get("/ops/parked", headers=bearer(settings, "auditor"))
            read_model = await client.get("/ops/read-model", headers=bearer(settings, "utility_desk"))
        assert ready["projections"] == {"audit.log": {"caught_up": True, "lag": 0}}
        assert parked.json()["parked"] == {"audit.log": []}
        assert read_model.status_code == 403


async def _ready(client):
    answer = await client.get("/readyz")
    return answer.status_code == 200 and answer.json()


class TestProofsAndTampering:
    async def test_an_inclusion_proof_checks_out_with_only_the_checkpoint(self, settings):
        ids = await produce_one_of_each(settings)
        async with serving(build_app(settings)) as client:
            entries = await logged(client, settings)
            await client.post("/audit/checkpoints", headers=bearer(settings, "auditor"))
            entry = next(e for e in entries if e["subject"] == ids["incident"])
            proof = (await client.get(f"/audit/proofs/inclusion/{entry['entry']}", headers=bearer(settings, "auditor"))).json()
        verify_inclusion(data=base64.b64decode(proof["value_b64"]), log=proof["log"], proof=proof["proof"],
                         checkpoint=proof["checkpoint"], public_key=proof["public_key"])

    async def test_a_changed_byte_in_the_store_is_named_by_verify(self, settings):
        await produce_one_of_each(settings)
        async with serving(build_app(settings)) as client:
            entries = await logged(client, settings)
            target = entries[2]
            with sqlite3.connect(log_db_path(settings)) as db:
                db.execute("UPDATE entries SET value = CAST(replace(CAST(value AS TEXT), 'smguard', 'smgu4rd') AS BLOB)"
                           " WHERE log = ? AND idx = ?", (target["log"], target["index"]))
            report = (await client.get("/audit/verify", headers=bearer(settings, "auditor"))).json()
        assert report["ok"] is False
        assert report["first_bad"]["log"] == target["log"] and report["first_bad"]["index"] == target["index"]


class TestCommands:
    async def test_replay_finds_no_difference_then_the_row_changed_behind_the_systems_back(self, settings, capsys):
        await produce_one_of_each(settings)
        app = build_app(settings)
        async with listening(app) as url:
            await eventually(lambda: logged_size(app) >= 6, what="logged")
            args = argparse.Namespace(service="audit", until=None, url=url)
            healthy = await asyncio.to_thread(replay.main, args, settings)
            with sqlite3.connect(log_db_path(settings)) as db:
                db.execute("UPDATE entries SET subject = '改ざん' WHERE rowid = (SELECT MIN(rowid) FROM entries)")
            altered = await asyncio.to_thread(replay.main, args, settings)
        out = capsys.readouterr().out
        assert healthy == 0 and "audit: no difference" in out
        assert altered == 1 and "index_digest" in out

    async def test_replay_until_a_moment_shows_the_state_then(self, settings, capsys):
        await produce_one_of_each(settings)
        args = argparse.Namespace(service="audit", until=datetime(2000, 1, 1, tzinfo=timezone.utc), url=None)
        assert await asyncio.to_thread(replay.main, args, settings) == 0
        assert json.loads(capsys.readouterr().out)["audit"]["audit_log"]["size"] == 0

    async def test_verify_against_a_kept_checkpoint(self, settings, tmp_path, capsys):
        await produce_one_of_each(settings)
        app = build_app(settings)
        async with listening(app) as url:
            await eventually(lambda: logged_size(app) >= 6, what="logged")
            kept = tmp_path / "kept.json"
            async with httpx.AsyncClient(base_url=url, headers=bearer(settings, "auditor")) as client:
                kept.write_text((await client.get("/audit/checkpoints/latest")).text)
            await produce_one_of_each(settings)
            await eventually(lambda: logged_size(app) >= 12, what="more logged")
            app.state.service.checkpoint()
            good = await asyncio.to_thread(cli_verify.main, argparse.Namespace(checkpoint=kept, url=url), settings)
            forged = json.loads(kept.read_text())
            forged["checkpoint"]["root"] = "00" * 32
            kept.write_text(json.dumps(forged))
            bad = await asyncio.to_thread(cli_verify.main, argparse.Namespace(checkpoint=kept, url=url), settings)
        out = capsys.readouterr().out
        assert good == 0 and "consistent with" in out
        assert bad == 1 and "FAILED" in out

    async def test_dossier_prints_the_document_and_fails_for_an_unknown_incident(self, settings, capsys):
        ids = await produce_one_of_each(settings)
        app = build_app(settings)
        async with listening(app) as url:
            await eventually(lambda: logged_size(app) >= 6, what="logged")
            found = await asyncio.to_thread(cli_dossier.main, argparse.Namespace(incident_id=ids["incident"], format="md", output=None, url=url), settings)
            missing = await asyncio.to_thread(cli_dossier.main, argparse.Namespace(incident_id="nope", format="md", output=None, url=url), settings)
        out = capsys.readouterr().out
        assert found == 0 and "インシデント記録 / Incident dossier" in out and "ConnectionBlocked" in out
        assert missing == 1


pytestmark = pytest.mark.integration
