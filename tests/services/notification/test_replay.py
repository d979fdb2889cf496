"""The replay of the notification service on a real broker: the live read model equals the stream's."""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import datetime, timezone

import httpx

from shared import topics
from shared.cli import replay as cli_replay
from shared.eventstore import Context
from shared.events.values import Actor
from shared.principal import Principal
from shared.replay import rebuild
from services.notification.application import handlers
from services.notification.bootstrap import READ_MODELS, build_app
from services.notification.domain.contacts import SetContact
from services.notification.projections.readmodel import snapshot
from services.notification.projections.views import NOTIFICATIONS
from tests.factories import StandInWriter, bearer, connection_registered, envelope, eventually, listening, serving, uid
from tests.services.notification.helpers import block, blocked, handler_service, notify, project, put_contact

SOC = Principal(sub="soc", role="utility_soc")


def contact(operator_id: str) -> SetContact:
    return SetContact(operator_id, "applicant", "山田", "中部テック", "yamada@op.example", "052-000-0000", None,
                      Actor(kind="person", id="soc", role="utility_soc"))  # fmt: skip


def views_of(client_or_app):
    app = getattr(client_or_app, "_transport", None)
    app = app.app if app is not None else client_or_app  # httpx's ASGI transport keeps the app it serves
    return app.state.service.views


def notices(views) -> list[dict]:
    """Every notification the views hold."""
    return [view for _, view in views.docs.every(NOTIFICATIONS)]


def settled(views, operator_id: str) -> list[dict]:
    """The operator's notifications once every one of them has left the queue (delivered, acknowledged...)."""
    found = [n for n in notices(views) if n["operator_id"] == operator_id]
    return found if found and all(n["status"] != "queued" for n in found) else []


async def some_history(client, settings, views, operator_id: str) -> str:
    """Contacts registered and changed, a block told and acknowledged; answers the block's notification id."""
    await put_contact(client, settings, operator_id, "applicant", "applicant@op.example")
    await put_contact(client, settings, operator_id, "security_incident", "soc@op.example")
    await put_contact(client, settings, operator_id, "applicant", "applicant@op.example", phone="052-111-1111")
    event = await block(settings, operator_id)
    (notice,) = await eventually(
        lambda: [n for n in notices(views)
                 if n["domain_event"]["subject"] == event.connection_id and n["status"] == "delivered"],
        what="the block delivered",
    )  # fmt: skip
    acked = await client.post(f"/notifications/{notice['id']}/ack", headers=bearer(settings, "operator", operator_id))
    assert acked.status_code == 200
    await eventually(lambda: views.notification(notice["id"])["status"] == "acknowledged", what="acknowledged")
    await eventually(lambda: len(settled(views, operator_id)) == 4, what="every notice sent (3 contacts to the desk, 1 block)")
    return notice["id"]


async def live_read_model(client, settings) -> dict:
    answer = await client.get("/ops/read-model", headers=bearer(settings, "auditor"))
    assert answer.status_code == 200
    return answer.json()


class TestReadModelsAtTheLivePositions:
    async def test_the_replayed_read_models_equal_the_live_snapshot(self, settings, config, smtp, clock):
        operator = uid("op")
        async with serving(build_app(settings, config=config, clock=clock)) as client:
            notice = await some_history(client, settings, views_of(client), operator)
            live = await live_read_model(client, settings)
            replayed = await rebuild(settings, READ_MODELS, positions=live["positions"])
        assert replayed == live["read_models"]
        told = replayed["notifications"][notice]
        assert told["status"] == "acknowledged" and told["attempts"] == 1 and told["route"] == "utility_to_operator"
        assert told["recipient"]["email"] == "soc@op.example" and told["domain_event"]["type"] == "ConnectionBlocked"
        contacts = replayed["contacts"][operator]
        assert set(contacts) == {"applicant", "security_incident"} and contacts["applicant"]["phone"] == "052-111-1111"
        assert [operator] in replayed["incident_operators"].values()  # the router's knowledge is compared too
        assert len(smtp.mailbox.messages) == 4  # the replay sent nothing more

    async def test_events_that_arrive_after_the_snapshot_are_left_out_of_its_replay(self, settings, config, smtp, clock):
        first, later = uid("op"), uid("op")
        async with serving(build_app(settings, config=config, clock=clock)) as client:
            await put_contact(client, settings, first, "applicant", "first@op.example")
            await eventually(lambda: views_of(client).contacts_of(first), what="projected")
            live = await live_read_model(client, settings)
            await put_contact(client, settings, later, "applicant", "later@op.example")
            await eventually(lambda: views_of(client).contacts_of(later), what="projected")
            replayed = await rebuild(settings, READ_MODELS, positions=live["positions"])
            everything = await rebuild(settings, READ_MODELS)
        assert replayed == live["read_models"] and set(replayed["contacts"]) == {first}
        assert set(everything["contacts"]) == {first, later}

    async def test_a_coalesced_notice_and_its_digest_replay_with_every_member(self, settings, config, smtp, clock):
        operator, incident = uid("op"), uid("inc")
        app = build_app(settings, config=config.model_copy(update={"notice_hold_seconds": 5}), clock=clock)
        async with serving(app) as client:
            views = views_of(client)
            await put_contact(client, settings, operator, "security_incident", "soc@op.example")
            storm = [blocked(operator, incident_id=incident) for _ in range(30)]
            async with StandInWriter(settings, [topics.CONNECTION_EVENTS]) as writer:
                for event in storm:
                    await writer.append(event.connection_id, [event])
            (notice,) = await eventually(lambda: [n for n in notices(views) if n["member_count"] == 30], what="one notice of 30")
            clock.advance(seconds=5)
            await eventually(lambda: views.notification(notice["id"])["status"] == "delivered", what="the notice sent")
            later = await block(settings, operator, incident_id=incident)
            await eventually(lambda: views.notification(notice["id"])["followed_by"], what="a digest follows it")
            live = await live_read_model(client, settings)
            replayed = await rebuild(settings, READ_MODELS, positions=live["positions"])
        assert replayed == live["read_models"]
        digest = replayed["notifications"][replayed["notifications"][notice["id"]]["followed_by"]]
        rows = replayed["notification_members"].values()
        assert [m["connection_id"] for m in rows if m["notification_id"] == notice["id"]] == [e.connection_id for e in storm]
        assert [m["connection_id"] for m in rows if m["notification_id"] == digest["id"]] == [later.connection_id]
        assert digest["digest_of"] == notice["id"] and digest["status"] == "queued"  # held a minute after the notice

    async def test_only_the_soc_and_auditors_may_read_it(self, settings, config, clock):
        async with serving(build_app(settings, config=config, clock=clock)) as client:
            anonymous = await client.get("/ops/read-model")
            refused = [
                (await client.get("/ops/read-model", headers=bearer(settings, role, "op-1"))).status_code
                for role in ("operator", "utility_desk", "sensor")
            ]
            soc = await client.get("/ops/read-model", headers=bearer(settings, "utility_soc"))
        assert anonymous.status_code == 401 and refused == [403, 403, 403]
        empty = {"notifications": {}, "notification_members": {}, "contacts": {}, "incidents": {}, "incident_operators": {},
                 "connections": {}}
        assert soc.status_code == 200 and soc.json() == {"positions": {}, "read_models": empty}


class TestTheReplayCommand:
    async def test_no_difference_when_healthy_then_the_altered_view_is_named(self, settings, config, smtp, clock, capsys):
        operator, app = uid("op"), build_app(settings, config=config, clock=clock)
        async with listening(app) as url:  # uvicorn runs the app's lifespan once; the command calls it over HTTP
            async with httpx.AsyncClient(base_url=url) as client:
                notice = await some_history(client, settings, views_of(app), operator)
            args = argparse.Namespace(service="notification", until=None, url=url)
            healthy = await asyncio.to_thread(cli_replay.main, args, settings)
            views = views_of(app)
            views.docs.put(NOTIFICATIONS, notice, {**views.notification(notice), "status": "failed"})  # behind its back
            altered = await asyncio.to_thread(cli_replay.main, args, settings)
        out = capsys.readouterr().out
        assert healthy == 0 and "notification: no difference" in out
        assert altered == 1 and f"notifications.{notice}.status: live='failed' replay='acknowledged'" in out

    async def test_until_shows_the_state_as_of_a_moment(self, settings, config, smtp, clock, capsys):
        operator, other = uid("op"), uid("op")
        async with serving(build_app(settings, config=config, clock=clock)) as client:
            await put_contact(client, settings, operator, "applicant", "before@op.example")
            moment = datetime.now(timezone.utc)
            await put_contact(client, settings, operator, "applicant", "after@op.example")
            await put_contact(client, settings, other, "applicant", "other@op.example")
            await eventually(lambda: views_of(client).contacts_of(other), what="projected")
        args = argparse.Namespace(service="notification", until=moment, url=None)
        assert await asyncio.to_thread(cli_replay.main, args, settings) == 0
        state = json.loads(capsys.readouterr().out)["notification"]
        assert set(state["contacts"]) == {operator}
        assert state["contacts"][operator]["applicant"]["email"] == "before@op.example"
        assert all(n["operator_id"] == operator for n in state["notifications"].values())


class TestTheSnapshot:
    async def test_it_is_plain_json_sorted_by_id_with_the_routers_knowledge(self):
        service = handler_service()
        await handlers.set_contact(service, contact("op-2"), principal=SOC, context=Context())
        await handlers.set_contact(service, contact("op-1"), principal=SOC, context=Context())
        await notify(service, service.store.published[-1])
        await project(service)
        event = blocked("op-2")
        await service.knowledge.apply(envelope(connection_registered(event.connection_id, "op-2"), event.connection_id), resume_at=0)
        await service.knowledge.apply(envelope(event, event.connection_id), resume_at=0)
        taken = snapshot(service.views, service.knowledge)
        assert json.loads(json.dumps(taken, ensure_ascii=False)) == taken
        assert list(taken["contacts"]) == ["op-1", "op-2"] and taken["incident_operators"] == {event.incident_id: ["op-2"]}
        assert taken["connections"][event.connection_id]["operator_id"] == "op-2"
        (notice,) = taken["notifications"].values()
        assert notice["status"] == "queued" and notice["version"] == 1 and notice["recipient"]["kind"] == "applicant"
