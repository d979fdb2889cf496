"""The broker is the trust boundary around the events: TLS, SASL/SCRAM and ACLs that deny by default.

Against the session's real broker (secured the way ``make run`` secures it): who is refused, and that
each service's principal can do its own work and nothing of another's.
"""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys

import pytest
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    KafkaError,
    SaslAuthenticationFailed,
    TopicAuthorizationFailedError,
)
from pydantic import SecretStr

from shared.config import Settings
from shared.kafka import clients
from shared.kafka.access import READS, SOC_CONSUMER, WRITES, add_user, rules, setup
from shared.kafka.tls import ensure_material
from shared.services import SERVICES
from shared.topics import (
    CONNECTION_EVENTS, CONNECTION_STATE, EVENT_TOPICS, INCIDENT_EVENTS, INCIDENT_STATE, NOTIFICATION_COMMANDS,
)  # fmt: skip

@pytest.fixture
def secured(settings: Settings) -> Settings:
    """This test's deployment on the secured broker: its topics, its services' principals and ACLs."""
    if not settings.kafka_security_protocol.startswith("SASL_"):
        pytest.fail("these tests need the secured broker the suite starts (or SMGUARD_KAFKA_* for yours)")
    setup(settings)
    return settings


def as_user(settings: Settings, user: str, password: str) -> Settings:
    return settings.model_copy(update={"kafka_username": user, "kafka_password": SecretStr(password), "kafka_password_file": None})


def as_service(settings: Settings, service: str) -> Settings:
    credentials = add_user(settings, service)
    return as_user(settings, credentials.user, credentials.password)


async def produce(settings: Settings, topic: str) -> None:
    producer = clients.producer(settings, acks="all", request_timeout_ms=10000)
    try:
        await asyncio.wait_for(producer.start(), 30)
        await asyncio.wait_for(producer.send_and_wait(topic, b"{}", key=b"k"), 30)
    finally:
        await producer.stop()


async def consume_one(settings: Settings, topic: str, **options: object) -> None:
    consumer = clients.consumer(settings, topic, auto_offset_reset="earliest", **options)
    try:
        await asyncio.wait_for(consumer.start(), 30)
        await asyncio.wait_for(consumer.getone(), 30)
    finally:
        await consumer.stop()


@pytest.mark.integration
async def test_a_client_without_credentials_is_refused(secured: Settings) -> None:
    for protocol in ("PLAINTEXT", "SSL"):  # no TLS at all; TLS but no SASL
        anonymous = secured.model_copy(update={"kafka_security_protocol": protocol})
        admin = clients.admin(anonymous, request_timeout_ms=3000)
        with pytest.raises((KafkaConnectionError, KafkaError, OSError, asyncio.TimeoutError)):
            await asyncio.wait_for(admin.start(), 10)
            await asyncio.wait_for(admin.list_topics(), 10)
        await admin.close()


@pytest.mark.integration
async def test_a_wrong_password_is_refused(secured: Settings) -> None:
    credentials = add_user(secured, "incident")
    impostor = as_user(secured, credentials.user, credentials.password + "x")
    with pytest.raises((SaslAuthenticationFailed, KafkaConnectionError)):
        await produce(impostor, secured.topic(INCIDENT_EVENTS))


@pytest.mark.integration
async def test_a_service_writes_its_own_topics_and_not_another_services(secured: Settings) -> None:
    incident = as_service(secured, "incident")
    await produce(incident, secured.topic(INCIDENT_EVENTS))
    await consume_one(incident, secured.topic(INCIDENT_EVENTS))
    # The incident service may not append a connection's events (e.g. ReconnectionApproved) ...
    with pytest.raises(TopicAuthorizationFailedError):
        await produce(incident, secured.topic(CONNECTION_EVENTS))
    # ... nor write the notification service's inbox, nor read the connection service's snapshots.
    with pytest.raises(TopicAuthorizationFailedError):
        await produce(incident, secured.topic(NOTIFICATION_COMMANDS))
    with pytest.raises(TopicAuthorizationFailedError):
        await consume_one(incident, secured.topic(CONNECTION_STATE))


@pytest.mark.integration
async def test_the_audit_service_reads_every_event_topic_and_writes_none(secured: Settings) -> None:
    await produce(as_service(secured, "connection"), secured.topic(CONNECTION_EVENTS))
    audit = as_service(secured, "audit")
    await consume_one(audit, secured.topic(CONNECTION_EVENTS))
    with pytest.raises(TopicAuthorizationFailedError):
        await produce(audit, secured.topic(CONNECTION_EVENTS))


@pytest.mark.integration
async def test_the_console_reads_the_event_topics_for_its_live_feed_and_writes_none_nor_reads_state(secured: Settings) -> None:
    await produce(as_service(secured, "incident"), secured.topic(INCIDENT_EVENTS))
    console = as_service(secured, "console")
    await consume_one(console, secured.topic(INCIDENT_EVENTS))
    with pytest.raises(TopicAuthorizationFailedError):
        await produce(console, secured.topic(INCIDENT_EVENTS))
    with pytest.raises(TopicAuthorizationFailedError):
        await consume_one(console, secured.topic(INCIDENT_STATE))  # snapshots (with sealed secrets) are not for it


@pytest.mark.integration
async def test_a_soc_consumer_reads_the_event_topics_in_its_own_groups_only(secured: Settings) -> None:
    await produce(as_service(secured, "incident"), secured.topic(INCIDENT_EVENTS))
    credentials = add_user(secured, SOC_CONSUMER, "soc-siem")
    soc = as_user(secured, credentials.user, credentials.password)
    await consume_one(soc, secured.topic(INCIDENT_EVENTS), group_id=f"{credentials.user}-siem", enable_auto_commit=False)
    with pytest.raises(TopicAuthorizationFailedError):
        await produce(soc, secured.topic(INCIDENT_EVENTS))
    with pytest.raises(TopicAuthorizationFailedError):
        await consume_one(soc, secured.topic(INCIDENT_STATE))  # snapshots are not for consumers
    with pytest.raises(GroupAuthorizationFailedError):
        await consume_one(soc, secured.topic(INCIDENT_EVENTS), group_id=f"{secured.topic_prefix}smguard.incident")


@pytest.mark.integration
def test_kafka_user_add_prints_working_credentials(secured: Settings, tmp_path) -> None:
    env = {
        **os.environ,
        "SMGUARD_KAFKA_BOOTSTRAP_SERVERS": secured.kafka_bootstrap_servers,
        "SMGUARD_TOPIC_PREFIX": secured.topic_prefix,
        "SMGUARD_DATA_DIR": str(secured.data_dir),
    }
    out = subprocess.run([sys.executable, "-m", "shared.cli", "kafka-user", "add", "soc-siem", "--role", "soc-consumer"],
                         env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stderr
    printed = dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line and not line.startswith("#"))
    assert printed["SMGUARD_KAFKA_USERNAME"] == f"{secured.topic_prefix}soc-siem"
    soc = as_user(secured, printed["SMGUARD_KAFKA_USERNAME"], printed["SMGUARD_KAFKA_PASSWORD"])
    asyncio.run(produce(as_service(secured, "incident"), secured.topic(INCIDENT_EVENTS)))
    asyncio.run(consume_one(soc, secured.topic(INCIDENT_EVENTS)))
    kept = secured.data_dir / "kafka-security" / "users" / f"{secured.topic_prefix}soc-siem.password"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600


def test_the_local_brokers_keys_and_passwords_are_owner_only(tmp_path) -> None:
    material = ensure_material(tmp_path / "kafka-security")
    files = [p for p in material.folder.iterdir() if p.is_file()]
    assert {p.name for p in files} >= {"ca.pem", "ca-key.pem", "broker.p12", "broker.p12.password", "admin.password"}
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files)
    # Made once: a second call keeps the same CA (clients keep trusting it).
    before = material.ca_file.read_bytes()
    assert ensure_material(material.folder).ca_file.read_bytes() == before


def test_no_service_may_write_another_services_topics() -> None:
    for service in SERVICES:
        granted = rules("", service, f"smguard-{service}")
        writable = {r.name for r in granted if r.resource == "topic" and r.pattern == "literal" and "WRITE" in r.operations}
        others = {t for s in SERVICES if s != service for t in WRITES[s]} - set(WRITES[service])
        assert not writable & others, service
        assert set(READS[service]) <= {r.name for r in granted if r.resource == "topic" and "READ" in r.operations}
    soc = rules("", SOC_CONSUMER, "soc-siem")
    assert {r.name for r in soc if r.resource == "topic"} == set(EVENT_TOPICS)
    assert all(op in ("READ", "DESCRIBE") for r in soc for op in r.operations)


@pytest.mark.integration
async def test_a_service_started_before_setup_says_so_instead_of_creating_others_topics(settings: Settings) -> None:
    from shared.kafka.access import topics_of
    from shared.kafka.admin import TopicsMissing, ensure_topics

    incident = as_service(settings, "incident")  # its principal and ACLs, but no topics made for it
    with pytest.raises(TopicsMissing, match="smguard kafka-user setup"):
        await ensure_topics(incident, topics_of("incident"), timeout=30)
