"""Integration: a fleet block of 200 meters of one operator, on the real broker through the service, is one
e-mail to that operator's contact (caught by the development SMTP catcher), listing the first 50 and the count."""

from __future__ import annotations

from shared import topics
from shared.devmail import read_mailbox, start_catcher
from services.notification.bootstrap import build_app
from tests.factories import StandInWriter, bearer, connection_blocked, eventually, free_port, incident_opened, serving, uid
from tests.services.notification.helpers import notifications, put_contact

HOLD = 5


async def fleet_block(settings, incident: str, fleet: dict[str, list[str]]) -> None:
    """A vulnerability incident, then every listed connection of every operator blocked for it, as the
    incident and connection services would write them."""
    async with StandInWriter(settings, [topics.INCIDENT_EVENTS, topics.CONNECTION_EVENTS]) as writer:
        opened = incident_opened(incident, None, origin="vulnerability", category="vulnerability", title="SPM-100 認証バイパス")
        await writer.append(incident, [opened])
        for operator, connections in fleet.items():
            for connection in connections:
                await writer.append(connection, [connection_blocked(connection, operator, incident, reason="serious_vulnerability")])


async def block_notice(client, settings, operator: str, *, members: int) -> dict | None:
    """The operator's block notice once the read model shows it with ``members`` members."""
    found = [n for n in await notifications(client, settings, operator_id=operator)
             if n["domain_event"]["type"] == "ConnectionBlocked" and n["member_count"] == members]  # fmt: skip
    return found[0] if found else None


class TestFleetBlock:
    async def test_two_hundred_blocks_of_one_operator_are_one_email_listing_them(self, settings, config, clock, tmp_path):
        mail_port, folder = free_port(), tmp_path / "mail"
        catcher = start_catcher(folder, port=mail_port)
        config = config.model_copy(update={"smtp_port": mail_port, "notice_hold_seconds": HOLD})
        operator, other, incident = uid("op"), uid("op"), uid("inc")
        fleet = {operator: [uid("conn") for _ in range(200)], other: [uid("conn") for _ in range(3)]}
        try:
            async with serving(build_app(settings, config=config, clock=clock)) as client:
                for op in fleet:
                    await put_contact(client, settings, op, "security_incident", f"soc@{op}.example")
                await fleet_block(settings, incident, fleet)
                notice = await eventually(lambda: block_notice(client, settings, operator, members=200), timeout=180,
                                          what="one notice holding all 200 blocks")  # fmt: skip
                await eventually(lambda: block_notice(client, settings, other, members=3), timeout=60, what="the other's")
                clock.advance(seconds=HOLD)
                await eventually(lambda: [m for m in read_mailbox(folder) if f"soc@{operator}.example" in m.to], timeout=60,
                                 what="the e-mail to the operator's contact")  # fmt: skip
                await eventually(lambda: [m for m in read_mailbox(folder) if f"soc@{other}.example" in m.to], timeout=60,
                                 what="the e-mail to the other operator's contact")  # fmt: skip
                delivered = await eventually(lambda: delivered_notices(client, settings, operator), what="recorded delivered")
                mine = bearer(settings, "operator", operator)
                listed = (await client.get(f"/notifications/{notice['id']}/members", params={"limit": 500}, headers=mine)).json()
                theirs = await client.get(f"/notifications/{notice['id']}/members", headers=bearer(settings, "operator", other))
        finally:
            catcher.stop()
        (mail,) = [m for m in read_mailbox(folder) if f"soc@{operator}.example" in m.to]
        (to_other,) = [m for m in read_mailbox(folder) if f"soc@{other}.example" in m.to]
        assert [n["id"] for n in delivered] == [notice["id"]] and "(全200件 / 200 in all)" in mail.subject
        assert all(c in mail.body for c in fleet[operator][:50]) and "… ほか 150 件 / and 150 more" in mail.body
        assert f"/notifications/{notice['id']}/members" in mail.body
        assert [m["connection_id"] for m in listed["items"]] == fleet[operator] and listed["total"] == 200
        assert theirs.status_code == 404  # another tenant does not learn the notice exists
        assert all(c in to_other.body for c in fleet[other]) and not any(c in to_other.body for c in fleet[operator])
        assert not any(c in mail.body for c in fleet[other])


async def delivered_notices(client, settings, operator: str) -> list[dict]:
    return [n for n in await notifications(client, settings, operator_id=operator, status="delivered")
            if n["domain_event"]["type"] == "ConnectionBlocked"]  # fmt: skip
