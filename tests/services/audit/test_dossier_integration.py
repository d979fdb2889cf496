"""A dossier for a whole block → clear → reconnect story, produced event by event on a real broker."""

from __future__ import annotations

from datetime import datetime, timezone

from services.audit.bootstrap import build_app
from shared.events.connection import (
    BlockEnforced,
    BlockReleased,
    ConnectionReconnected,
    ReconnectEnforced,
    ReconnectionApproved,
)
from shared.events.incident import CauseReport, ImpactLine, IncidentCleared, IncidentNoteAttached, InitialReport, ReportFiled
from shared.events.notification import (
    NotificationAcknowledged,
    NotificationDelivered,
    NotificationQueued,
    Recipient,
)
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
STORY = [
    "IncidentOpened", "ConnectionBlocked", "BlockEnforced", "NotificationQueued", "NotificationDelivered",
    "NotificationAcknowledged", "ReportFiled", "IncidentNoteAttached", "ReportFiled", "IncidentCleared", "BlockReleased",
    "ReconnectionApproved", "ReconnectionApproved", "ConnectionReconnected", "ReconnectEnforced",
]


async def play_story(settings, op: str, inc: str, con: str) -> None:
    """Every step in order, each its own append (so each gets a later time)."""
    note, other = uid("note"), uid("inc")
    initial = InitialReport(event="特例計量器からの不正アクセス", location="名古屋市", impacts=[ImpactLine(target="電力SM", impact="通信断")], response_plan="遮断して調査")
    cause = CauseReport(cause="認証情報の漏洩", countermeasure="パスワード変更", countermeasure_plan="4月中", recurrence_prevention="多要素認証")
    recipient = Recipient(kind="security_incident", operator_id=op, name="佐藤 花子")
    steps = [
        (con, connection_registered(con, op)),
        (inc, incident_opened(inc, op)),
        (con, connection_blocked(con, op, inc)),
        (con, BlockEnforced(connection_id=con, operator_id=op, request_id="r1", enforced_at=NOW)),
        (note, NotificationQueued(notification_id=note, domain_event_id="x", domain_event_type="ConnectionBlocked", operator_id=op, subject_id=inc,
                                  route="utility_to_operator", channel="email", recipient=recipient, title="遮断のお知らせ")),
        (note, NotificationDelivered(notification_id=note, attempt=1, delivered_at=NOW)),
        (note, NotificationAcknowledged(notification_id=note, acknowledged_by=f"operator:{op}")),
        (inc, ReportFiled(incident_id=inc, part="initial", revision=1, filed_by="operator", direction="operator_to_utility", initial=initial)),
        (inc, IncidentNoteAttached(incident_id=inc, text="端末は倉庫で発見。\n引き続き調査します。", attached_by="operator")),
        (inc, ReportFiled(incident_id=inc, part="cause", revision=1, filed_by="operator", direction="operator_to_utility", cause=cause)),
        (inc, IncidentCleared(incident_id=inc, summary="解消", cleared_by="operator", operator_id=op, connection_ids=[con])),
        (con, BlockReleased(connection_id=con, operator_id=op, incident_id=inc)),
        (con, ReconnectionApproved(connection_id=con, operator_id=op, party="utility", decided_by=SOC)),
        (con, ReconnectionApproved(connection_id=con, operator_id=op, party="operator", decided_by=SOC)),
        (con, ConnectionReconnected(connection_id=con, operator_id=op, request_id="r2")),
        (con, ReconnectEnforced(connection_id=con, operator_id=op, request_id="r2", enforced_at=NOW)),
        (con, connection_blocked(con, op, other)),  # a later story of another incident: not part of this dossier
    ]
    async with StandInWriter(settings, EVENT_TOPICS, source="smguard/story") as writer:
        for subject, event in steps:
            await writer.append(subject, [event], operator_id=op, actor=SOC.id)


async def dossier_of(client, settings, inc, *, role="auditor", operator_id=None, **params):
    return await client.get(f"/audit/dossiers/{inc}", params=params, headers=bearer(settings, role, operator_id))


class TestDossier:
    async def test_a_block_clear_reconnect_story_is_told_in_order(self, settings):
        op, inc, con = uid("op"), uid("inc"), uid("con")
        await play_story(settings, op, inc, con)
        async with serving(build_app(settings)) as client:
            async def complete():
                answer = await dossier_of(client, settings, inc)
                return answer.status_code == 200 and len(answer.json()["entries"]) >= len(STORY) and answer.json()
            found = await eventually(complete, what="the whole story logged")
            markdown = (await dossier_of(client, settings, inc, format="md")).text
        assert [e["type"] for e in found["entries"]] == STORY
        assert found["summary"]["status"] == "cleared"
        assert "発生事象・対処計画 / Initial report" in markdown and "要因・対処方法 / Cause report" in markdown
        assert "特例計量器からの不正アクセス" in markdown and "JST (UTC+09:00)" in markdown
        notes = markdown.split("## メモ / Notes")[1].split("\n## ")[0]
        assert "利用事業者 / operator" in notes and "> 端末は倉庫で発見。" in notes and "> 引き続き調査します。" in notes

    async def test_an_operator_sees_its_own_dossier_and_not_another_operators(self, settings):
        op, inc, con = uid("op"), uid("inc"), uid("con")
        await play_story(settings, op, inc, con)
        async with serving(build_app(settings)) as client:
            await eventually(lambda: _status(dossier_of(client, settings, inc), 200), what="dossier")
            own = await dossier_of(client, settings, inc, role="operator", operator_id=op)
            other = await dossier_of(client, settings, inc, role="operator", operator_id=uid("op"))
            unknown = await dossier_of(client, settings, uid("inc"))
        assert own.status_code == 200 and own.json()["summary"]["incident_id"] == inc
        assert other.status_code == 404
        assert unknown.status_code == 404


async def _status(answer, code):
    return (await answer).status_code == code
