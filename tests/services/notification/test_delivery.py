"""Integration: real broker, real SMTP server, real webhook receiver, the service running in-process."""

from __future__ import annotations

from shared.webhooks import KEY_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from services.notification.bootstrap import build_app
from tests.factories import bearer, eventually, serving, uid
from tests.services.notification.helpers import CONTACT, WEBHOOK_SECRET, block, file_report, notifications, put_contact


class TestRouting:
    async def test_a_connection_block_reaches_the_security_incident_contact(self, settings, config, smtp, clock):
        operator = uid("op")
        async with serving(build_app(settings, config=config, clock=clock)) as client:
            await put_contact(client, settings, operator, "applicant", "applicant@op.example")
            await put_contact(client, settings, operator, "security_incident", "soc@op.example")
            event = await block(settings, operator)
            (mail,) = await eventually(lambda: smtp.mailbox.to("soc@op.example"), what="mail to the SI contact")
        assert mail["Subject"].startswith("【smguard】接続遮断 / Connection blocked")
        body = mail.get_content()
        assert event.connection_id in body and "不正アクセスを検知" in body and "JST" in body
        assert "/notifications/" in body and smtp.mailbox.to("applicant@op.example") == []

    async def test_without_a_security_incident_contact_the_applicant_is_told(self, settings, config, smtp, clock):
        operator = uid("op")
        async with serving(build_app(settings, config=config, clock=clock)) as client:
            await put_contact(client, settings, operator, "applicant", "applicant@op.example")
            await block(settings, operator)
            (mail,) = await eventually(lambda: smtp.mailbox.to("applicant@op.example"), what="mail to the applicant")
        assert "接続遮断" in mail["Subject"]

    async def test_an_operators_report_reaches_the_utility_desk(self, settings, config, smtp, clock):
        operator, incident = uid("op"), uid("inc")
        async with serving(build_app(settings, config=config, clock=clock)) as client:
            await file_report(settings, incident, operator)
            (mail,) = await eventually(lambda: smtp.mailbox.to("desk@utility.example"), what="mail to the desk")
            # the list is a view of the notification topic: it may show the notification a moment after the mail
            (item,) = await eventually(lambda: notifications(client, settings, operator_id=operator), what="listed")
        body = mail.get_content()
        for text in ["発生事象 / Event: 無線端末の紛失", "各機器およびシステムへの影響 / Impact on each device and system",
                     "特例計量器 SM-001: 通信停止", "今後の対応計画 / Response plan: 認証情報を無効化する"]:
            assert text in body
        assert "インシデント報告" in mail["Subject"] and body.startswith("ネットワークサービスセンター託送運営グループ")
        assert item["route"] == "operator_to_utility" and item["domain_event"]["type"] == "ReportFiled"


class TestDeliveryLifecycle:
    async def test_with_the_smtp_server_down_it_retries_and_delivers_when_it_is_back(self, settings, config, smtp, clock):
        operator = uid("op")
        smtp.stop()
        async with serving(build_app(settings, config=config, clock=clock)) as client:
            await put_contact(client, settings, operator, "security_incident", "soc@op.example")
            await block(settings, operator)
            (failed,) = await eventually(lambda: failed_item(client, settings, operator), what="a failed attempt")
            smtp.start()
            clock.advance(seconds=config.retry_base_seconds)
            await eventually(lambda: smtp.mailbox.to("soc@op.example"), what="delivery after the server is back")
            item = await eventually(lambda: delivered_item(client, settings, operator), what="delivered")
        assert failed["attempts"] == 1 and failed["next_attempt_at"] and "SMTP" in failed["last_error"]
        assert item["attempts"] == 2 and item["id"] == failed["id"]

    async def test_no_acknowledgement_in_time_escalates_to_the_fallback_contact(self, settings, config, smtp, clock):
        operator = uid("op")
        async with serving(build_app(settings, config=config, clock=clock)) as client:
            await put_contact(client, settings, operator, "applicant", "applicant@op.example")
            await put_contact(client, settings, operator, "security_incident", "soc@op.example")
            await block(settings, operator)
            await eventually(lambda: smtp.mailbox.to("soc@op.example"), what="first delivery")
            clock.advance(seconds=config.ack_timeout_seconds)
            (mail,) = await eventually(lambda: smtp.mailbox.to("applicant@op.example"), what="escalation mail")
            items = await eventually(lambda: escalated(client, settings, operator), what="escalated status")
        assert "エスカレーション / Escalation" in mail["Subject"] and "接続遮断" in mail.get_content()
        assert items[0]["escalated_to"]["email"] == "applicant@op.example"

    async def test_a_restarted_service_sends_nothing_twice(self, settings, config, smtp, clock):
        operator = uid("op")
        async with serving(build_app(settings, config=config, clock=clock)) as client:
            await put_contact(client, settings, operator, "security_incident", "soc@op.example")
            await block(settings, operator)
            await eventually(lambda: smtp.mailbox.to("soc@op.example"), what="first delivery")
            await eventually(lambda: delivered_item(client, settings, operator), what="recorded delivered")
        async with serving(build_app(settings, config=config, clock=clock)) as client:
            second = await block(settings, operator)
            await eventually(lambda: [m for m in smtp.mailbox.to("soc@op.example") if second.connection_id in m.get_content()],
                             what="the new block's mail after the restart")
            await eventually(lambda: both_delivered(client, settings, operator), what="both recorded delivered")
        assert len(smtp.mailbox.to("soc@op.example")) == 2
        assert len(smtp.mailbox.to("desk@utility.example")) == 1  # the contact registration, told once

    async def test_a_webhook_receives_a_notification_signed_with_the_contacts_own_secret(self, settings, config, smtp, clock, webhook):
        operator = uid("op")
        async with serving(build_app(settings, config=config, clock=clock)) as client:
            await put_contact(client, settings, operator, "security_incident", "soc@op.example", webhook_url=webhook.url)
            event = await block(settings, operator)
            await eventually(lambda: webhook.payloads(), what="a webhook call")
            await eventually(lambda: smtp.mailbox.to("soc@op.example"), what="the e-mail as well")
            fetched = await client.get(f"/operators/{operator}/contacts/security_incident/webhook-secret",
                                       headers=bearer(settings, "operator", operator))  # fmt: skip
        assert fetched.status_code == 200 and fetched.headers["cache-control"] == "no-store"
        secret = fetched.json()["secret"].encode()
        body, headers, _ = webhook.received[0]
        timestamp, signature = headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER]
        assert verify(secret, body, timestamp=timestamp, signature=signature)
        assert headers[KEY_ID_HEADER] == fetched.json()["key_id"]
        assert not verify(WEBHOOK_SECRET.encode(), body, timestamp=timestamp, signature=signature)  # the master key signs nothing
        payload = webhook.payloads()[0]
        assert payload["domain_event"]["type"] == "ConnectionBlocked" and event.connection_id in payload["text"]
        assert payload["id"] == payload["notification_id"] == headers["X-Smguard-Notification-Id"]

    async def test_a_failing_webhook_is_retried_alone_without_a_second_email(self, settings, config, smtp, clock, webhook):
        operator = uid("op")
        webhook.respond = lambda body, headers: 500
        async with serving(build_app(settings, config=config, clock=clock)) as client:
            await put_contact(client, settings, operator, "security_incident", "soc@op.example", webhook_url=webhook.url)
            await block(settings, operator)
            (failed,) = await eventually(lambda: failed_item(client, settings, operator), what="the webhook failing")
            webhook.respond = lambda body, headers: 204
            clock.advance(seconds=config.retry_base_seconds)
            item = await eventually(lambda: delivered_item(client, settings, operator), what="delivered on both channels")
        assert failed["delivered_channels"] == ["email"] and "HTTP 500" in failed["last_error"]
        assert sorted(item["delivered_channels"]) == ["email", "webhook"] and item["attempts"] == 2
        assert len(smtp.mailbox.to("soc@op.example")) == 1 and len(webhook.payloads()) == 1


async def failed_item(client, settings, operator):
    return [n for n in await notifications(client, settings, operator_id=operator, status="failed")
            if n["domain_event"]["type"] == "ConnectionBlocked"]


async def delivered_item(client, settings, operator):
    found = [n for n in await notifications(client, settings, operator_id=operator, status="delivered")
             if n["domain_event"]["type"] == "ConnectionBlocked"]
    return found[0] if found else None


async def both_delivered(client, settings, operator):
    found = [n for n in await notifications(client, settings, operator_id=operator, status="delivered")
             if n["domain_event"]["type"] == "ConnectionBlocked"]
    return len(found) == 2


async def escalated(client, settings, operator):
    return [n for n in await notifications(client, settings, operator_id=operator, status="escalated")]


class TestContactChangesAndVulnerabilities:
    async def test_a_contact_change_tells_the_other_party_at_once(self, settings, config, smtp, clock):
        operator = uid("op")
        async with serving(build_app(settings, config=config, clock=clock)) as client:
            await put_contact(client, settings, operator, "security_incident", "soc@op.example")
            await put_contact(client, settings, operator, "security_incident", "soc2@op.example")
            changed = await eventually(lambda: [m for m in smtp.mailbox.to("desk@utility.example") if "連絡先の変更" in m["Subject"]],
                                       what="the desk told of the operator's change")
            soc = bearer(settings, "utility_soc")
            body = {"name": "応用 担当", "email": "app@op.example", **CONTACT}
            assert (await client.put(f"/operators/{operator}/contacts/applicant", json=body, headers=soc)).status_code == 201
            (told,) = await eventually(lambda: [m for m in smtp.mailbox.to("soc2@op.example") if "連絡先の登録" in m["Subject"]],
                                       what="the operator told of the utility's change")
        assert "soc2@op.example" in changed[0].get_content() and "email" in changed[0].get_content()
        assert "app@op.example" in told.get_content()

    async def test_an_operator_hit_by_a_vulnerability_is_told_once_of_every_unit_blocked(self, settings, config, smtp, clock):
        operator, incident = uid("op"), uid("inc")
        app = build_app(settings, config=config.model_copy(update={"notice_hold_seconds": 5}), clock=clock)
        async with serving(app) as client:
            await put_contact(client, settings, operator, "security_incident", "soc@op.example")
            first = await block(settings, operator, reason="serious_vulnerability", incident_id=incident)
            second = await block(settings, operator, reason="serious_vulnerability", incident_id=incident)
            other = await block(settings, operator)
            # 4 domain events routed (the contact, 3 blocks); 4 commands decided (the 2 blocks into one notice)
            await eventually(lambda: app.state.router.handled == 4 and app.state.inbox.handled == 4, what="all decided")
            clock.advance(seconds=5)
            await eventually(lambda: all_delivered(client, settings, operator, count=3), what="every notification sent")
        vulnerability = [m for m in smtp.mailbox.to("soc@op.example") if "重大な脆弱性" in m["Subject"]]
        assert any(other.connection_id in m.get_content() for m in smtp.mailbox.to("soc@op.example"))
        assert len(vulnerability) == 1 and "(全2件 / 2 in all)" in vulnerability[0]["Subject"]
        assert first.connection_id in vulnerability[0].get_content() and second.connection_id in vulnerability[0].get_content()


async def all_delivered(client, settings, operator, *, count):
    items = await notifications(client, settings, operator_id=operator)
    return len(items) == count and all(n["status"] == "delivered" for n in items)
