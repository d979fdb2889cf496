"""Against the real broker: the audit log shows each operator its own part of an incident several operators share."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from services.audit.bootstrap import build_app
from shared.events.incident import ImpactLine, IncidentCleared, InitialReport, ReportFiled, VulnerabilityDeclared
from shared.events.notification import NotificationQueued, Recipient
from shared.topics import EVENT_TOPICS
from tests.factories import (
    SOC,
    StandInWriter,
    bearer,
    connection_blocked,
    connection_registered,
    eventually,
    incident_opened,
    serving,
    uid,
)

NOW = datetime(2025, 4, 1, 1, 0, tzinfo=timezone.utc)


def _report(plan: str) -> ReportFiled:
    initial = InitialReport(event="脆弱性の影響調査", location="名古屋市", impacts=[ImpactLine(target="特例計量器", impact="停止")],
                            response_plan=plan)  # fmt: skip
    return ReportFiled(incident_id="", part="initial", revision=1, filed_by="operator", direction="operator_to_utility",
                       initial=initial)  # fmt: skip


def _queued(note: str, incident: str, operator: str) -> NotificationQueued:
    recipient = Recipient(kind="security_incident", operator_id=operator, name="担当者", email=f"{operator}@example.jp")
    return NotificationQueued(notification_id=note, domain_event_id=uid("ev"), domain_event_type="ConnectionBlocked",
                              operator_id=operator, subject_id=incident, route="utility_to_operator", channel="email",
                              recipient=recipient, title="遮断のお知らせ")  # fmt: skip


async def fleet_vulnerability(settings, vuln: str, ops: dict[str, str]) -> dict[str, str]:
    """A vulnerability the utility declared, blocking one connection of each operator; each reports; it is cleared."""
    conns = {name: uid(f"con-{name}") for name in ops}
    notes = {name: uid(f"note-{name}") for name in ops}
    opened = incident_opened(vuln, None, category="vulnerability", origin="vulnerability", title="TK-100 の脆弱性")
    declared = VulnerabilityDeclared(incident_id=vuln, title="TK-100 の脆弱性", severity="critical", asset_kind="special_meter",
                                     maker="東海計器", model="TK-100", firmware="<3.0")  # fmt: skip
    async with StandInWriter(settings, EVENT_TOPICS, source="smguard/story") as writer:
        await writer.append(vuln, [opened, declared], operator_id="", actor=SOC.id)
        for name, op in ops.items():
            await writer.append(conns[name], [connection_registered(conns[name], op), connection_blocked(conns[name], op, vuln)])
            await writer.append(notes[name], [_queued(notes[name], vuln, op)])
            report = _report(f"{name} の対応計画").model_copy(update={"incident_id": vuln})
            await writer.append(vuln, [report], operator_id=op, actor=f"operator:{op}")
        cleared = IncidentCleared(incident_id=vuln, summary="全台更新済み", cleared_by="utility", operator_ids=sorted(ops.values()),
                                  connection_ids=sorted(conns.values()))  # fmt: skip
        await writer.append(vuln, [cleared], operator_id="", actor=SOC.id)
    return conns


async def _dossier(client, settings, incident, role="auditor", operator_id=None):
    return await client.get(f"/audit/dossiers/{incident}", headers=bearer(settings, role, operator_id))


class TestAFleetVulnerabilityDossier:
    async def test_each_operator_concerned_gets_its_own_part_and_nothing_of_the_others(self, settings):
        ops = {"a": uid("op"), "b": uid("op")}
        vuln = uid("vuln")
        conns = await fleet_vulnerability(settings, vuln, ops)
        async with serving(build_app(settings)) as client:
            async def complete():
                answer = await _dossier(client, settings, vuln)
                return answer.status_code == 200 and answer.json()["summary"]["status"] == "cleared" and answer.json()

            everything = await eventually(complete, what="the whole story logged")
            mine = await _dossier(client, settings, vuln, "operator", ops["a"])
            stranger = await _dossier(client, settings, vuln, "operator", uid("op"))

        assert mine.status_code == 200  # concerned through its blocked connection only: not a 404
        text = mine.text
        assert ops["b"] not in text and conns["b"] not in text and "b の対応計画" not in text
        shown = mine.json()
        types = [e["type"] for e in shown["entries"]]
        assert {"IncidentOpened", "VulnerabilityDeclared", "ConnectionBlocked", "NotificationQueued", "IncidentCleared"} <= set(types)
        assert types.count("ReportFiled") == 1 and "a の対応計画" in text
        (clearing,) = [e for e in shown["entries"] if e["type"] == "IncidentCleared"]
        assert clearing["data"]["operator_ids"] == [ops["a"]] and clearing["data"]["connection_ids"] == [conns["a"]]
        assert clearing["tenants"] == [ops["a"]]
        assert shown["summary"]["operator_ids"] == [ops["a"]]

        assert everything["summary"]["operator_ids"] == sorted(ops.values())
        assert [e["type"] for e in everything["entries"]].count("ReportFiled") == 2
        assert stranger.status_code == 404

    async def test_an_operators_entries_name_no_other_operator(self, settings):
        ops = {"a": uid("op"), "b": uid("op")}
        vuln = uid("vuln")
        conns = await fleet_vulnerability(settings, vuln, ops)
        theirs = uid("inc")  # B's own incident, for which the SOC blocked A's connection too: its clearing names both
        async with StandInWriter(settings, EVENT_TOPICS, source="smguard/story") as writer:
            await writer.append(theirs, [incident_opened(theirs, ops["b"], opened_by="operator")], actor=f"operator:{ops['b']}")
            await writer.append(conns["a"], [connection_blocked(conns["a"], ops["a"], theirs)])
            cleared = IncidentCleared(incident_id=theirs, summary="解消", cleared_by="utility", operator_id=ops["b"],
                                      operator_ids=sorted(ops.values()), connection_ids=[conns["a"]])  # fmt: skip
            await writer.append(theirs, [cleared], operator_id=ops["b"], actor=SOC.id)
        staff = bearer(settings, "operator", ops["a"])
        async with serving(build_app(settings)) as client:
            async def cleared_logged():
                page = (await client.get("/audit/entries", params={"type": "IncidentCleared"}, headers=staff)).json()
                return page["items"] if len(page["items"]) == 2 else None

            clearing, their_clearing = await eventually(cleared_logged, what="both clearings in the operator's entries")
            page = await client.get("/audit/entries", params={"limit": 500}, headers=staff)
            by_other = await client.get("/audit/entries", params={"operator_id": ops["b"]}, headers=staff)
            by_auditor = await client.get("/audit/entries", params={"operator_id": ops["b"]}, headers=bearer(settings, "auditor"))
        for shown in (clearing, their_clearing):
            assert shown["data"]["connection_ids"] == [conns["a"]] and shown["data"]["operator_ids"] == [ops["a"]]
        assert their_clearing["operator_id"] is None and their_clearing["data"]["operator_id"] is None
        text = json.dumps(page.json(), ensure_ascii=False)
        assert ops["b"] not in text and conns["b"] not in text and "b の対応計画" not in text
        assert ops["a"] in text
        assert by_other.json()["items"] == [] and by_auditor.json()["items"]  # no filter tells A what names B
