"""The agreement's whole story against the real processes, driven over HTTP and read back from Kafka."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import httpx
import pytest

from shared.kafka import clients
from shared.config import Settings
from shared.demo.client import Smguard
from shared.demo.story import Facts, Story
from shared.devmail import read_mailbox
from shared.kafka.reader import assign_all, read_to_end
from shared.processes import SIDE_NICENESS, System
from shared.services import PROCESSES, SERVICES
from shared.topics import ALL_TOPICS, CONNECTION_EVENTS, INCIDENT_EVENTS
from tests.factories import TEST_SECRET, bearer

pytestmark = pytest.mark.integration


class Recorder(Smguard):
    """The story's client, keeping every response body it saw."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.bodies: list[str] = []
        self.http.event_hooks["response"].append(self._keep)

    def _keep(self, response: httpx.Response) -> None:
        response.read()
        self.bodies.append(response.text)


@pytest.fixture(scope="module")
def story(system: System) -> tuple[Facts, Recorder, list[str]]:
    """Play the story once for every test of this module; keep its narration."""
    settings = Settings(kafka_bootstrap_servers=system.bootstrap, topic_prefix=system.prefix, jwt_secret=TEST_SECRET)
    api = Recorder(settings, {s: system.url(s) for s in SERVICES}, timeout=60)
    told: list[str] = []
    facts = Story(api, lambda ja, en, lines: told.append(f"{ja} / {en}")).play()
    return facts, api, told


def settings_of(system: System) -> Settings:
    return Settings(kafka_bootstrap_servers=system.bootstrap, topic_prefix=system.prefix, jwt_secret=TEST_SECRET)


async def records(system: System, bases: tuple[str, ...]) -> list[Any]:
    """Every record of the given topics, as a plain consumer sees them (uncommitted ones too)."""
    consumer = clients.consumer(Settings(kafka_bootstrap_servers=system.bootstrap))
    await consumer.start()
    try:
        partitions = await assign_all(consumer, [system.prefix + b for b in bases])
        await consumer.seek_to_beginning(*partitions)
        return [r async for batch in read_to_end(consumer, partitions) for r in batch]
    finally:
        await consumer.stop()


def types_about(rows: list[Any], subject: str) -> list[str]:
    found = []
    for row in rows:
        body = json.loads(row.value)
        if body.get("subject") == subject:
            found.append(body["type"].removeprefix("jp.smguard."))
    return found


class TestTheStory:
    def test_every_step_of_the_agreement_comes_out_as_it_says(self, story) -> None:
        facts, _, told = story
        assert len(told) == 13
        assert facts.seen["duplicate"]["duplicate"] is True
        assert facts.seen["blocked"]["blocking_incidents"][0]["decided_by"]["kind"] == "policy"
        assert facts.seen["notice"]["recipient"]["kind"] == "security_incident"
        assert facts.seen["after_one_approval"] == "awaiting_approval"
        assert set(facts.seen["spared"].values()) == {"active"}

    async def test_the_incident_and_the_connection_tell_the_story_on_their_topics(self, story, system) -> None:
        facts, _, _ = story
        operator = facts.operators[0]
        connection = facts.connections[operator][0]
        incident = types_about(await records(system, (INCIDENT_EVENTS,)), facts.incident)
        assert incident[:2] == ["IncidentOpened", "AnomalyDetected"]
        assert incident.count("ReportFiled") == 2 and incident[-1] == "IncidentCleared"
        blocked = types_about(await records(system, (CONNECTION_EVENTS,)), connection)
        for step in ("ConnectionBlocked", "BlockEnforced", "BlockReleased", "ReconnectionApproved",
                     "ConnectionReconnected", "ReconnectEnforced"):
            assert step in blocked
        assert blocked.index("ConnectionBlocked") < blocked.index("ConnectionReconnected")
        assert blocked.count("ReconnectionApproved") == 2

    def test_the_security_incident_contact_received_the_block_by_email_in_both_languages(self, story, system) -> None:
        facts, _, _ = story
        mails = read_mailbox(system.mail_dir)
        to_contact = [m for m in mails if f"security-incident@{facts.operators[0]}.example" in m.to]
        assert any("遮断" in m.subject and "blocked" in m.subject.lower() for m in to_contact)

    def test_the_dossier_holds_the_incident_from_anomaly_to_reconnection(self, story) -> None:
        facts, _, _ = story
        dossier = facts.seen["dossier"]
        for name in ("AnomalyDetected", "ConnectionBlocked", "ReportFiled", "IncidentCleared", "ConnectionReconnected"):
            assert name in dossier


class TestNoOneLetIn:
    def test_another_operator_sees_none_of_the_first_operators_objects(self, story, system) -> None:
        facts, _, _ = story
        first, other = facts.operators
        connection = facts.connections[first][0]
        headers = bearer(settings_of(system), "operator", other)
        with httpx.Client(timeout=10, headers=headers) as http:
            assert http.get(f"{system.url('connection')}/connections/{connection}").status_code == 404
            assert http.get(f"{system.url('incident')}/incidents/{facts.incident}").status_code == 404
            assert http.get(f"{system.url('audit')}/audit/dossiers/{facts.incident}").status_code == 404
            assert http.get(f"{system.url('notification')}/operators/{first}/contacts").status_code == 404
            listed = http.get(f"{system.url('connection')}/connections", params={"operator_id": first}).json()
            assert all(item["operator_id"] == other for item in listed["items"])
            notes = http.get(f"{system.url('notification')}/notifications").json()["items"]
            assert notes and all(n["operator_id"] == other for n in notes)

    def test_no_token_is_a_401_everywhere(self, system) -> None:
        paths = {"incident": "/incidents", "connection": "/connections", "notification": "/notifications",
                 "audit": "/audit/entries"}
        for service, path in paths.items():
            assert httpx.get(system.url(service) + path).status_code == 401


class TestSecrets:
    async def test_the_plaintext_secrets_and_broker_passwords_appear_in_no_topic_log_response_mail_or_enforcement_request(
        self, story, system
    ) -> None:
        facts, api, _ = story
        await asyncio.sleep(0)  # the story has finished; everything below is read back
        topic_text = "\n".join(r.value.decode("utf-8", "replace") for r in await records(system, ALL_TOPICS))
        texts = {
            "topics": topic_text,
            "logs": system.logs(),
            "responses": "\n".join(api.bodies),
            "mail": "\n".join(m.path.read_text(errors="replace") for m in read_mailbox(system.mail_dir)),
            "enforcement": system.hes_log.read_text() if system.hes_log.exists() else "",  # type: ignore[attr-defined]
        }
        assert len(texts["topics"]) > 1000 and texts["responses"]
        # The services' broker passwords travel only to the broker, never into what anyone reads.
        broker_passwords = [p.read_text().strip() for p in (system.data_dir / "kafka-security" / "users").glob("*.password")]
        assert len(broker_passwords) == len(PROCESSES)  # each service's and the console's principal
        for secret in [*facts.secrets, *broker_passwords]:
            escaped = json.dumps(secret)[1:-1]
            for where, text in texts.items():
                assert secret not in text and escaped not in text, f"a secret appears in {where}"


class TestContainmentFirst:
    def test_the_side_services_run_at_a_lower_cpu_priority_than_the_containment_path(self, system) -> None:
        niceness = {name: os.getpriority(os.PRIO_PROCESS, child.pid) for name, child in system.supervisor.children.items()}
        assert niceness["notification"] == niceness["audit"] == niceness["incident"] + SIDE_NICENESS
        assert niceness["connection"] == niceness["incident"]
