"""Message texts: every field of the agreement's reports in Japanese and English, times in JST."""

from __future__ import annotations

from datetime import datetime, timezone

from shared.events.connection import SealedSecrets
from services.notification.adapters.templates import in_jst, show
from services.notification.application import compose, handlers
from services.notification.domain.model import Notification
from tests.factories import connection_registered, envelope, incident_opened, uid
from tests.services.notification.helpers import DESK, blocked, handler_service, report

HEADINGS = [
    ("発生事象", "Event"), ("発生場所", "Location"), ("各機器およびシステムへの影響", "Impact on each device and system"),
    ("今後の対応計画", "Response plan"), ("発生原因", "Cause"), ("対策方法", "Countermeasure"),
    ("対策計画", "Countermeasure plan"), ("再発防止策", "Recurrence prevention"),
]  # fmt: skip


def render(service, env):
    """The notification the event's one route calls for, addressed to the desk."""
    (command,) = handlers.route(service, env)
    return compose.notification(service, command, DESK.primary, notification_id=uid("n"))


async def learn(service, env):
    """The router's knowledge applies the event."""
    await service.knowledge.apply(env, resume_at=0)


def test_times_are_shown_in_japan_time_with_the_zone_written():
    assert show(datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)) == "2026-11-26 18:00 JST"
    assert in_jst("2026-11-26T09:00:00+00:00") == "2026-11-26 18:00 JST"  # as a read model keeps a time


class TestReportTexts:
    async def test_the_initial_report_renders_every_heading_in_both_languages_with_its_content(self):
        service, incident = handler_service(public_base_url="https://smguard.example/"), uid("inc")
        opened = incident_opened(incident, "op-1", category="terminal_loss", title="無線端末の紛失", opened_by="operator",
                                 detected_at=datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc))  # fmt: skip
        await learn(service, envelope(opened, incident))
        event = render(service, envelope(report(incident), incident))
        for ja, en in HEADINGS[:4]:
            assert f"{ja} / {en}" in event.message_body
        for text in ["無線端末の紛失", "名古屋市東区の変電所", "特例計量器 SM-001: 通信停止", "認証情報を無効化する",
                     "2026-11-26 18:00 JST", "https://smguard.example/notifications/" + event.notification_id + "/ack"]:
            assert text in event.message_body
        assert "インシデント報告 / Incident report filed" in event.message_subject

    def test_the_cause_report_renders_every_heading_in_both_languages_with_its_content(self):
        service, incident = handler_service(), uid("inc")
        event = render(service, envelope(report(incident, part="cause"), incident, operator_id="op-1"))
        for ja, en in HEADINGS[4:]:
            assert f"{ja} / {en}" in event.message_body
        for text in ["保守員の置き忘れ", "端末の遠隔ロック", "2026年12月までに全端末へ適用", "持ち出し管理簿の運用"]:
            assert text in event.message_body


class TestBlockTexts:
    async def test_a_block_names_the_connection_and_the_reason_and_never_its_secrets(self):
        service, event = handler_service(), blocked("op-1")
        registered = connection_registered(
            event.connection_id, "op-1", model="TK-9",
            secrets=SealedSecrets(ciphertext="CIPHERTEXT", fingerprint="FPRINT", hints={"password": "****"}),
        )  # fmt: skip
        await learn(service, envelope(registered, event.connection_id))
        queued = render(service, envelope(event, event.connection_id))
        for text in [event.connection_id, "special_meter", "東海計器", "TK-9", "2.1.0",
                     "遮断理由 / Block reason: unauthorized_access", "不正アクセスを検知", "接続遮断 / Connection blocked"]:
            assert text in queued.message_body
        assert "CIPHERTEXT" not in queued.message_body and "FPRINT" not in queued.message_body


class TestEscalationTexts:
    def test_the_escalation_says_why_and_carries_the_original_message(self):
        service = handler_service()
        original = Notification.queue(render(service, envelope(blocked("op-1"), "c-1")))
        follow_up = compose.escalation(service, original, DESK.fallback, notification_id=uid("n"))
        assert follow_up.escalation_of == original.id and follow_up.recipient == DESK.fallback
        assert "エスカレーション / Escalation" in follow_up.message_subject and "接続遮断" in follow_up.message_subject
        assert "期限内に受領確認がありませんでした" in follow_up.message_body and original.queued.message_body in follow_up.message_body
        assert f"/notifications/{follow_up.notification_id}/ack" in follow_up.message_body
