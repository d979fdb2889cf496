"""Scale-out on a real broker: a restart resumes instead of rebuilding, and two instances share the work."""

from __future__ import annotations

import httpx

from services.notification.bootstrap import build_app
from tests import factories
from tests.factories import bearer, eventually, free_port, listening, make_settings, serving, uid
from tests.services.notification.helpers import block, notifications, put_contact


def subscriber(app, name: str):
    (found,) = [s for s in app.state.runtime.subscribers if s.name == f"notification.{name}"]
    return found


async def delivered_block(client, settings, operator: str) -> dict:
    found = [n for n in await notifications(client, settings, operator_id=operator, status="delivered")
             if n["domain_event"]["type"] == "ConnectionBlocked"]  # fmt: skip
    return found[0] if found else {}


async def all_delivered(client, settings, operator: str) -> bool:
    """Every notification of the operator delivered as the read model shows: nothing left for a restart to apply."""
    found = await notifications(client, settings, operator_id=operator)
    return len(found) >= 2 and all(n["status"] == "delivered" for n in found)


class TestRestart:
    async def test_a_restart_resumes_the_read_models_restores_the_aggregates_and_sends_nothing_twice(
        self, settings, config, smtp, clock
    ):
        operator = uid("op")
        async with serving(build_app(settings, config=config, clock=clock)) as client:
            await put_contact(client, settings, operator, "security_incident", "soc@op.example")
            await block(settings, operator)
            before = await eventually(lambda: delivered_block(client, settings, operator), what="the block delivered")
            await eventually(lambda: smtp.mailbox.to("desk@utility.example"), what="the desk told of the contact")
            await eventually(lambda: all_delivered(client, settings, operator), what="both deliveries recorded and seen")
        app = build_app(settings, config=config, clock=clock)
        async with serving(app) as client:
            await app.state.runtime.wait_caught_up()
            await eventually(lambda: app.state.runtime.store.ready, what="the partitions restored")
            assert app.state.runtime.store.restored_events == 0  # from the local snapshots, nothing folded again
            assert subscriber(app, "views").applied == subscriber(app, "knowledge").applied == 0  # resumed, not re-read
            assert await delivered_block(client, settings, operator) == before
            acked = await client.post(f"/notifications/{before['id']}/ack", headers=bearer(settings, "operator", operator))
            assert acked.status_code == 200 and acked.json()["version"] == before["version"] + 1
            await eventually(lambda: subscriber(app, "views").applied == 1, what="only the acknowledgement applied")
        assert len(smtp.mailbox.to("soc@op.example")) == 1 and len(smtp.mailbox.to("desk@utility.example")) == 1


class TestTwoInstances:
    async def test_an_ack_sent_to_the_instance_that_does_not_own_the_notification_is_forwarded_to_its_owner(
        self, settings, config, smtp, clock, kafka_bootstrap, topic_prefix, tmp_path, monkeypatch
    ):
        first, second = free_port(), free_port()
        ports = iter([first, second])
        monkeypatch.setattr(factories, "free_port", lambda: next(ports))  # listening() serves on the advertised ports
        mine = make_settings(kafka_bootstrap, topic_prefix, tmp_path / "i0", notification_port=first)
        theirs = make_settings(kafka_bootstrap, topic_prefix, tmp_path / "i1", instance=1, instance_port_base=second - 2)
        assert (mine.port_of("notification"), theirs.port_of("notification")) == (first, second)
        apps = [build_app(s, config=config, clock=clock) for s in (mine, theirs)]
        async with listening(apps[0]) as one, listening(apps[1]) as other:
            stores = [app.state.runtime.store for app in apps]
            await eventually(lambda: all(s.ready and s.owned for s in stores), what="each instance owns a partition")
            operator = uid("op")
            async with httpx.AsyncClient(base_url=one) as client:
                await put_contact(client, settings, operator, "security_incident", "soc@op.example")
                await block(settings, operator)
                (notice,) = await eventually(lambda: blocks(client, settings, operator), what="the block queued")
            owner = 0 if stores[0].partition_of(notice["id"]) in stores[0].owned else 1
            elsewhere = [one, other][1 - owner]
            assert stores[1 - owner].partition_of(notice["id"]) not in stores[1 - owner].owned  # it can only forward
            async with httpx.AsyncClient(base_url=elsewhere) as client:
                acked = await client.post(f"/notifications/{notice['id']}/ack", headers=bearer(settings, "operator", operator))
            decided = stores[owner].snapshot(notice["id"])
        assert acked.status_code == 200 and acked.json()["acknowledged_by"] == f"operator:{operator}"
        assert decided is not None and decided.state["acknowledged_by"] == f"operator:{operator}"


async def blocks(client, settings, operator) -> list[dict]:
    return [n for n in await notifications(client, settings, operator_id=operator) if n["domain_event"]["type"] == "ConnectionBlocked"]
