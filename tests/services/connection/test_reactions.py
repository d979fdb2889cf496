"""Against the real broker: the block policy, fleet-wide blocks, clearing and reconnection, leaks."""

from __future__ import annotations

import asyncio


from shared.kafka import clients
from services.connection.application.router import route
from shared.envelope import Envelope, encode
from shared.kafka.commands import CommandSender
from shared.topics import CONNECTION_COMMANDS, INCIDENT_EVENTS
from tests.factories import bearer, eventually, incident_opened, serving, uid
from tests.services.connection.helpers import (
    acknowledged,
    anomaly,
    app_for,
    bad_signatures,
    cleared,
    inbox_decided,
    incident_writer,
    known_incident,
    onboard,
    register,
    requests_to,
    status_of,
    stream_types,
    vulnerability,
)


async def test_an_anomaly_under_auto_blocks_its_connection_and_the_block_is_enforced(settings, peer):
    app = app_for(settings, peer)
    async with serving(app) as client, incident_writer(settings) as feed:
        operator = uid("op")
        await onboard(client, settings, operator)
        connection_id = await register(client, settings, operator)
        incident = uid("inc")
        await feed.append(incident, anomaly(incident, connection_id, operator, kind="unauthorized_access"))

        async def enforced():
            body = await status_of(client, settings, connection_id)
            return body if body["enforcement"] == "enforced" else None

        body = await eventually(enforced, what="the block enforced")
        assert body["status"] == "blocked"
        (hold,) = body["blocking_incidents"]
        assert hold["incident_id"] == incident
        assert hold["decided_by"]["kind"] == "policy"
        assert hold["decided_by"]["id"] == "block-policy:unauthorized_access:auto"
        assert acknowledged(peer, hold["request_id"]) == 1
        assert bad_signatures(peer) == 0


async def test_under_recommend_an_anomaly_waits_for_an_analyst(settings, peer):
    app = app_for(settings, peer)
    soc = bearer(settings, "utility_soc")
    async with serving(app) as client, incident_writer(settings) as feed:
        operator = uid("op")
        await onboard(client, settings, operator)
        first, second = await register(client, settings, operator), await register(client, settings, operator)
        await _anomaly(feed, first, operator, kind="abnormal_communication")
        await _anomaly(feed, second, operator, kind="abnormal_communication")

        async def two_open():
            recs = (await client.get("/block-recommendations", headers=soc)).json()
            return recs if len(recs) == 2 else None

        recs = {r["connection_id"]: r for r in await eventually(two_open, what="two recommendations")}
        assert (await status_of(client, settings, first))["status"] == "active"

        confirmed = await client.post(f"/block-recommendations/{recs[first]['id']}/confirm", json={"note": "確認"}, headers=soc)
        rejected = await client.post(f"/block-recommendations/{recs[second]['id']}/reject", json={}, headers=soc)
        assert confirmed.status_code == 200 and confirmed.json()["status"] == "blocked"
        assert rejected.status_code == 200 and rejected.json()["status"] == "active"
        again = await client.post(f"/block-recommendations/{recs[first]['id']}/confirm", json={}, headers=soc)
        assert again.status_code == 409
        assert (await client.get("/block-recommendations", headers=soc)).json() == []
        hold = (await status_of(client, settings, first))["blocking_incidents"][0]
        assert hold["decided_by"]["kind"] == "person" and hold["decided_by"]["role"] == "utility_soc"


async def test_a_vulnerability_blocks_exactly_the_matching_units_among_200_connections(settings, peer):
    app = app_for(settings, peer)
    async with serving(app) as client, incident_writer(settings) as feed:
        operators = [uid("op") for _ in range(3)]
        for operator in operators:
            await onboard(client, settings, operator)
        plan = []
        for i in range(200):
            model, firmware = ("TK-100", f"2.{i % 5}.0") if i % 2 else ("TK-200", "2.1.0")
            plan.append((operators[i % 3], model, firmware))
        ids = await asyncio.gather(
            *(register(client, settings, op, model=model, firmware=fw) for op, model, fw in plan)
        )
        expected = {cid for cid, (_, model, fw) in zip(ids, plan) if model == "TK-100" and fw in ("2.1.0", "2.2.0")}
        incident = uid("vuln")
        declared = vulnerability(incident, asset_kind="special_meter", maker="東海計器", model="TK-100", firmware=">=2.1,<2.3")
        await feed.append(incident, declared)
        soc = bearer(settings, "utility_soc")

        async def all_blocked():
            page = (await client.get("/connections", params={"status": "blocked", "limit": 500}, headers=soc)).json()
            return page if page["total"] >= len(expected) else None

        page = await eventually(all_blocked, what="the matching units blocked")
        blocked = {c["id"] for c in page["items"]}
        assert blocked == expected
        assert {op for op, *_ in (plan[ids.index(c)] for c in blocked)} == set(operators)
        store = app.state.runtime.store
        assert {store.partition_of(c) for c in blocked} == set(range(settings.topic_partitions))  # every owner decided
        for item in page["items"]:
            (hold,) = item["blocking_incidents"]
            assert hold["incident_id"] == incident and hold["reason"] == "serious_vulnerability"


async def test_clearing_then_both_approvals_reconnect_and_the_reconnection_is_enforced(settings, peer):
    app = app_for(settings, peer)
    soc = bearer(settings, "utility_soc")
    async with serving(app) as client, incident_writer(settings) as feed:
        operator = uid("op")
        staff = bearer(settings, "operator", operator)
        await onboard(client, settings, operator)
        connection_id = await register(client, settings, operator)
        first, second = uid("inc"), uid("inc")
        await feed.append(first, anomaly(first, connection_id, operator))
        await feed.append(second, [incident_opened(second, operator)])
        await eventually(lambda: known_incident(app, second), what="incident known")
        blocked = await client.post(
            f"/connections/{connection_id}/block",
            json={"reason": "abnormal_communication", "incident_id": second, "note": "手動遮断"},
            headers=soc,
        )
        assert blocked.status_code == 201, blocked.text
        await eventually(lambda: _holds(client, settings, connection_id, 2), what="two holds")

        await feed.append(first, cleared(first))
        await eventually(lambda: _holds(client, settings, connection_id, 1), what="one hold left")
        early = await client.post(f"/connections/{connection_id}/approvals", json={}, headers=staff)
        assert early.status_code == 409 and second in early.json()["detail"]

        await feed.append(second, cleared(second))
        await eventually(lambda: _status(client, settings, connection_id, "awaiting_approval"), what="awaiting")
        by_operator = await client.post(f"/connections/{connection_id}/approvals", json={"note": "問題なし"}, headers=staff)
        assert by_operator.status_code == 201 and by_operator.json()["reconnected"] is False
        bulk = await client.post(f"/incidents/{second}/approvals", json={"note": "一括承認"}, headers=soc)
        assert bulk.status_code == 200 and bulk.json()["reconnected"] == [connection_id]

        async def reconnect_enforced():
            body = await status_of(client, settings, connection_id)
            return body["status"] == "active" and body["enforcement"] == "enforced"

        await eventually(reconnect_enforced, what="reconnection enforced")
        actions = [r["action"] for r in requests_to(peer)]
        assert actions.count("reconnect") == 1 and actions.count("block") == 2


async def test_a_credential_leak_holds_reconnection_until_the_secrets_are_rotated(settings, peer):
    app = app_for(settings, peer)
    soc = bearer(settings, "utility_soc")
    async with serving(app) as client, incident_writer(settings) as feed:
        operator = uid("op")
        staff = bearer(settings, "operator", operator)
        await onboard(client, settings, operator)
        connection_id = await register(client, settings, operator)
        leak = uid("leak")
        assets = [{"kind": "special_meter", "id": connection_id, "side": "operator"}]
        await feed.append(leak, [incident_opened(leak, operator, category="credential_leak", affected_assets=assets)])
        await eventually(lambda: _field(client, settings, connection_id, "compromised"), what="compromised")
        await client.post(
            f"/connections/{connection_id}/block",
            json={"reason": "unauthorized_access", "incident_id": leak, "note": ""}, headers=soc,
        )
        await feed.append(leak, cleared(leak))
        await eventually(lambda: _status(client, settings, connection_id, "awaiting_approval"), what="awaiting")
        refused = await client.post(f"/connections/{connection_id}/approvals", json={}, headers=soc)
        assert refused.status_code == 409 and "rotate" in refused.json()["detail"]

        rotated = await client.post(
            f"/connections/{connection_id}/secrets",
            json={"auth_id": "AUTH-NEW-0001", "password": "新しいパスワード-99", "pairing_id": "PAIR-NEW-0001"},
            headers=staff,
        )
        assert rotated.status_code == 200 and rotated.json()["compromised"] is False
        assert (await client.post(f"/connections/{connection_id}/approvals", json={}, headers=soc)).status_code == 201


async def test_an_operators_credential_leak_marks_only_its_own_connections(settings, peer):
    settings = settings.model_copy(update={"topic_partitions": 1})  # one order for every event and command
    app = app_for(settings, peer)
    async with serving(app) as client, incident_writer(settings) as feed:
        reporter, other = uid("op"), uid("op")
        for operator in (reporter, other):
            await onboard(client, settings, operator)
        own, theirs = await register(client, settings, reporter), await register(client, settings, other)
        leak = uid("leak")
        assets = [{"kind": "special_meter", "id": c, "side": "operator"} for c in (own, theirs)]
        reported = incident_opened(leak, reporter, category="credential_leak", affected_assets=assets, opened_by="operator")
        await feed.append(leak, [reported], operator_id=reporter)
        # The utility's later leak names the other operator's connection: on one partition its command follows
        # the operator's, so once it is decided the operator's report was decided too.
        utility_leak = uid("leak")
        named = [{"kind": "special_meter", "id": theirs, "side": "operator"}]
        await feed.append(utility_leak, [incident_opened(utility_leak, other, category="credential_leak", affected_assets=named)])

        async def compromised_by(connection_id, incident):
            found = (await status_of(client, settings, connection_id))["compromised_by"]
            return found if incident in found else None

        assert await eventually(lambda: compromised_by(own, leak), what="the reporter's own connection marked") == [leak]
        assert await eventually(lambda: compromised_by(theirs, utility_leak), what="the utility's leak") == [utility_leak]


async def _holds(client, settings, connection_id, n):
    return len((await status_of(client, settings, connection_id))["blocking_incidents"]) == n


async def _status(client, settings, connection_id, status):
    return (await status_of(client, settings, connection_id))["status"] == status


async def _field(client, settings, connection_id, name):
    return (await status_of(client, settings, connection_id))[name]


async def _anomaly(feed, connection_id, operator_id, kind):
    incident = uid("inc")
    await feed.append(incident, anomaly(incident, connection_id, operator_id, kind=kind))


async def test_an_incident_event_whose_transaction_aborted_blocks_nothing(settings, peer):
    app = app_for(settings, peer)
    async with serving(app) as client, incident_writer(settings) as feed:
        operator = uid("op")
        await onboard(client, settings, operator)
        before, ghost, after = [await register(client, settings, operator) for _ in range(3)]
        await _anomaly(feed, before, operator, kind="unauthorized_access")
        await eventually(lambda: _status(client, settings, before, "blocked"), what="the router at work")
        await _aborted(settings, anomaly(uid("inc"), ghost, operator))
        await _anomaly(feed, after, operator, kind="unauthorized_access")
        await eventually(lambda: _status(client, settings, after, "blocked"), what="the next committed anomaly blocks")
        assert (await status_of(client, settings, ghost))["status"] == "active"


async def _aborted(settings, events) -> None:  # type: ignore[no-untyped-def]
    """Write incident events in a transaction that is then aborted: they never happened."""
    producer = clients.producer(settings, transactional_id=uid(settings.topic_prefix + "aborting")
    )
    await producer.start()
    try:
        await producer.begin_transaction()
        for n, event in enumerate(events, start=1):
            message = encode(Envelope(event=event, subject=event.incident_id, sequence=n, source="smguard/incident"))
            await producer.send_and_wait(settings.topic(INCIDENT_EVENTS), message.value, key=message.key)
        await producer.abort_transaction()
    finally:
        await producer.stop()


async def test_a_command_the_inbox_receives_twice_decides_once(settings, peer):
    app = app_for(settings, peer)
    async with serving(app) as client, incident_writer(settings) as feed:
        operator = uid("op")
        await onboard(client, settings, operator)
        connection_id, incident = await register(client, settings, operator), uid("inc")
        [opened, detected] = anomaly(incident, connection_id, operator)
        envelopes = await feed.append(incident, [opened, detected])
        await eventually(lambda: _status(client, settings, connection_id, "blocked"), what="blocked once")
        sender = CommandSender(settings)
        await sender.start()
        try:
            (routed,) = route(envelopes[1])
            await sender.send(CONNECTION_COMMANDS, connection_id, routed.command.model_dump(mode="json"))
        finally:
            await sender.stop()
        await eventually(lambda: inbox_decided(app), what="the redelivered command read")
        assert (await stream_types(settings, connection_id)).count("ConnectionBlocked") == 1

