"""Message texts: every field of the agreement's reports in Japanese and English, times in JST."""

from __future__ import annotations

from datetime import datetime, timezone

from tests.services.notification.helpers import DESK, blocked, envelope, report, uid
from shared.events.connection import ConnectionRegistered, SealedSecrets
from shared.events.incident import IncidentOpened
from shared.eventstore.memory import InMemoryEventStore
from services.notification.adapters.templates import Templates, jst
from services.notification.application.notifier import Notifier
from services.notification.domain.routing import routes_for
from services.notification.projections import knowledge

HEADINGS = [
    ("発生事象", "Event"), ("発生場所", "Location"), ("各機器およびシステムへの影響", "Impact on each device and system"),
    ("今後の対応計画", "Response plan"), ("発生原因", "Cause"), ("対策方法", "Countermeasure"),
    ("対策計画", "Countermeasure plan"), ("再発防止策", "Recurrence prevention"),
]


def notifier() -> Notifier:
    return Notifier(InMemoryEventStore(), desk=DESK, templates=Templates(), base_url="https://smguard.example/")


def render(n: Notifier, env):
    known = knowledge.operators_concerned(n.knowledge, env)
    (route,) = routes_for(env.event, event_id=env.id, operators=known)
    return n.compose(env, route, DESK.primary)


def test_times_are_shown_in_japan_time_with_the_zone_written():
    assert jst(datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)) == "2026-11-26 18:00 JST"


class TestReportTexts:
    def test_the_initial_report_renders_every_heading_in_both_languages_with_its_content(self):
        n = notifier()
        incident = uid("inc")
        n.knowledge = knowledge.apply(n.knowledge, envelope(IncidentOpened(
            incident_id=incident, operator_id="op-1", category="terminal_loss", severity="high", title="無線端末の紛失",
            detected_at=datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc), opened_by="operator"), incident))
        event = n.compose(envelope(report(incident), incident), route_of(n, report(incident), incident), DESK.primary)
        body = event.message_body
        for ja, en in HEADINGS[:4]:
            assert f"{ja} / {en}" in body
        for text in ["無線端末の紛失", "名古屋市東区の変電所", "特例計量器 SM-001: 通信停止", "認証情報を無効化する",
                     "2026-11-26 18:00 JST", "https://smguard.example/notifications/" + event.notification_id + "/ack"]:
            assert text in body
        assert "インシデント報告 / Incident report filed" in event.message_subject

    def test_the_cause_report_renders_every_heading_in_both_languages_with_its_content(self):
        n = notifier()
        incident = uid("inc")
        filed = report(incident, part="cause")
        event = n.compose(envelope(filed, incident, operator_id="op-1"), route_of(n, filed, incident, "op-1"), DESK.primary)
        for ja, en in HEADINGS[4:]:
            assert f"{ja} / {en}" in event.message_body
        for text in ["保守員の置き忘れ", "端末の遠隔ロック", "2026年12月までに全端末へ適用", "持ち出し管理簿の運用"]:
            assert text in event.message_body


def route_of(n, event, subject, operator_id=None):
    env = envelope(event, subject, operator_id=operator_id)
    (route,) = routes_for(event, event_id=env.id, operators=knowledge.operators_concerned(n.knowledge, env))
    return route


class TestBlockTexts:
    def test_a_block_names_the_connection_and_the_reason_and_never_its_secrets(self):
        n = notifier()
        event = blocked("op-1")
        registered = ConnectionRegistered(
            connection_id=event.connection_id, operator_id="op-1", kind="special_meter", maker="東海計器", model="TK-9",
            firmware="2.1.0", secrets=SealedSecrets(ciphertext="CIPHERTEXT", fingerprint="FPRINT", hints={"password": "****"}),
        )
        n.knowledge = knowledge.apply(n.knowledge, envelope(registered, event.connection_id))
        queued = render(n, envelope(event, event.connection_id))
        for text in [event.connection_id, "special_meter", "東海計器", "TK-9", "2.1.0",
                     "遮断理由 / Block reason: unauthorized_access", "不正アクセスを検知", "接続遮断 / Connection blocked"]:
            assert text in queued.message_body
        assert "CIPHERTEXT" not in queued.message_body and "FPRINT" not in queued.message_body
