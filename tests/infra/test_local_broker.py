"""The local Kafka broker (infra/kafka/broker.py) and the session broker of the test suite."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from aiokafka.admin import NewTopic

from shared.config import Settings
from shared.kafka import clients
from shared.localbroker import BROKER_PY, broker_module

broker = broker_module()


def run_cli(*args: str, path: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """broker.py in a clean environment with the given PATH (JAVA_HOME unset)."""
    env = {k: v for k, v in os.environ.items() if k not in ("JAVA_HOME", "PATH")}
    env["PATH"] = path
    return subprocess.run(
        [sys.executable, str(BROKER_PY), *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


# --------------------------------------------------------------------------- no broker


def test_render_config_single_node_kraft(tmp_path):
    text = broker.render_config(data_dir=tmp_path, port=19092, controller_port=19093)
    props = dict(
        line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#")
    )
    assert props["process.roles"] == "broker,controller"
    assert props["node.id"] == "1"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092"
    # --standalone formatting needs the bootstrap servers and no static voters.
    assert props["controller.quorum.bootstrap.servers"] == "127.0.0.1:19093"
    assert "controller.quorum.voters" not in props
    assert props["log.dirs"] == str(tmp_path / "kraft")
    for key in (
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "transaction.state.log.min.isr",
        "share.coordinator.state.topic.replication.factor",
        "share.coordinator.state.topic.min.isr",
    ):
        assert props[key] == "1", key
    assert props["auto.create.topics.enable"] == "false"
    assert props["log.retention.ms"] == "-1"


def _props(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))


def test_render_config_cluster_node_replicates_everything(tmp_path):
    voters = {1: 19093, 2: 19095, 3: 19097}
    props = _props(broker.render_config(data_dir=tmp_path, port=19094, controller_port=19095, node_id=2, voters=voters))
    assert props["node.id"] == "2"
    assert props["process.roles"] == "broker,controller"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:19093,2@127.0.0.1:19095,3@127.0.0.1:19097"
    assert "controller.quorum.bootstrap.servers" not in props  # static voters, not a standalone quorum
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19094,CONTROLLER://127.0.0.1:19095"
    for key in ("default.replication.factor", "offsets.topic.replication.factor",
                "transaction.state.log.replication.factor", "share.coordinator.state.topic.replication.factor"):  # fmt: skip
        assert props[key] == "3", key
    for key in ("min.insync.replicas", "transaction.state.log.min.isr", "share.coordinator.state.topic.min.isr"):
        assert props[key] == "2", key
    assert props["unclean.leader.election.enable"] == "false"


def test_render_config_cluster_node_secured_like_the_single_node(tmp_path):
    from shared.kafka.tls import ensure_material

    material = ensure_material(tmp_path / "sec")
    voters = {1: 19093, 2: 19095, 3: 19097}
    node = _props(broker.render_config(data_dir=tmp_path, port=19096, controller_port=19097, node_id=3, voters=voters,
                                       security_dir=material.folder))  # fmt: skip
    single = _props(broker.render_config(data_dir=tmp_path, port=19096, controller_port=19097, security_dir=material.folder))
    assert node["advertised.listeners"] == "SASL_SSL://127.0.0.1:19096"
    for key in ("ssl.keystore.location", "ssl.truststore.location", "super.users", "authorizer.class.name",
                "allow.everyone.if.no.acl.found", "inter.broker.listener.name", "listener.security.protocol.map"):  # fmt: skip
        assert node[key] == single[key], key


def test_a_node_outside_the_voters_is_refused(tmp_path):
    with pytest.raises(broker.BrokerError, match="node 4"):
        broker.render_config(data_dir=tmp_path, port=1, controller_port=2, node_id=4, voters={1: 2, 2: 3, 3: 5})


def test_local_cluster_layout(tmp_path):
    cluster = broker.LocalCluster(data_dir=tmp_path, ports=[19092, 19094, 19096], controller_ports=[19093, 19095, 19097],
                                  libs_dir=tmp_path / "libs")  # fmt: skip
    assert cluster.bootstrap == "127.0.0.1:19092,127.0.0.1:19094,127.0.0.1:19096"
    assert [n.node_id for n in cluster.nodes] == [1, 2, 3]
    assert cluster.node(2).data_dir == tmp_path / "node-2"
    assert len({n.cluster_id for n in cluster.nodes}) == 1  # one cluster
    again = broker.LocalCluster(data_dir=tmp_path, ports=[19092, 19094, 19096], controller_ports=[19093, 19095, 19097])
    assert again.nodes[0].cluster_id == cluster.nodes[0].cluster_id  # a restart rejoins the same cluster
    cmd = cluster.node(1).java_command("/opt/java/bin/java")
    assert "-Xmx256m" in cmd and "-Xmx512m" not in cmd  # three JVMs on one machine: small heaps
    assert cluster.running() == []
    with pytest.raises(broker.BrokerError, match="no node 4"):
        cluster.node(4)


def test_local_cluster_ports_must_differ(tmp_path):
    with pytest.raises(broker.PrerequisiteError, match="differ"):
        broker.LocalCluster(data_dir=tmp_path, ports=[19092, 19094], controller_ports=[19093, 19092])


def test_java_command(tmp_path):
    local = broker.LocalBroker(
        data_dir=tmp_path, port=19092, controller_port=19093, libs_dir=tmp_path / "libs"
    )
    cmd = local.java_command("/opt/java/bin/java")
    assert cmd[0] == "/opt/java/bin/java"
    assert {"-Xms256m", "-Xmx512m", "-XX:+UseG1GC"} <= set(cmd)
    assert f"-Dlog4j2.configurationFile={broker.LOG4J_CONFIG}" in cmd
    assert f"-Dkafka.logs.dir={tmp_path / 'logs'}" in cmd
    assert cmd[-4:] == ["-cp", f"{tmp_path / 'libs'}/*", "kafka.Kafka", str(local.config_file)]
    assert local.bootstrap == "127.0.0.1:19092"
    assert not local.is_running()


def test_cluster_id_is_22_char_base64url_uuid():
    for _ in range(500):  # 1 in 64 random ids would start with "-"
        cluster_id = broker.new_cluster_id()
        assert len(cluster_id) == 22
        assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16
        assert not cluster_id.startswith("-")  # kafka-storage would read it as an option


def test_free_port_and_port_in_use():
    port = broker.free_port()
    assert not broker.port_in_use(port)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", port))
        listener.listen()
        assert broker.port_in_use(port)


def test_java_missing_is_a_friendly_error(tmp_path):
    result = run_cli("up", "--data-dir", str(tmp_path / "data"), path="", tmp_path=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == broker.JAVA_MISSING
    assert "Traceback" not in result.stderr


def test_status_when_not_running(tmp_path):
    result = run_cli("status", "--data-dir", str(tmp_path), path="", tmp_path=tmp_path)
    assert result.returncode == 3
    assert "not running" in result.stdout


def test_ensure_jars_skips_maven_when_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", "")  # no mvn: must not be needed
    libs = tmp_path / "libs"
    libs.mkdir()
    (libs / f"kafka_2.13-{broker.kafka_version()}.jar").touch()
    assert broker.ensure_jars(libs, quiet=True) == libs


def test_maven_missing_is_a_friendly_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", "")
    with pytest.raises(broker.PrerequisiteError, match=r"needs Maven \(mvn\)"):
        broker.ensure_jars(tmp_path / "libs", quiet=True)


# --------------------------------------------------------------------------- with a broker


@pytest.mark.integration
async def test_transactional_produce_and_read_committed(kafka_bootstrap, topic_prefix):
    topic = f"{topic_prefix}roundtrip"
    settings = Settings(kafka_bootstrap_servers=kafka_bootstrap)  # TLS and SASL as the session's broker wants
    admin = clients.admin(settings)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()

    producer = clients.producer(
        settings, transactional_id=f"{topic_prefix}producer"
    )
    await producer.start()
    try:
        await producer.begin_transaction()
        await producer.send_and_wait(topic, key=b"k", value=b"aborted")
        await producer.abort_transaction()
        async with producer.transaction():
            await producer.send_and_wait(topic, key=b"k", value=b"committed")
    finally:
        await producer.stop()

    consumer = clients.consumer(
        settings,
        topic,
        isolation_level="read_committed",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        message = await asyncio.wait_for(consumer.getone(), timeout=30)
    finally:
        await consumer.stop()
    # The aborted record sits first in the log but is invisible to read_committed.
    assert (message.key, message.value) == (b"k", b"committed")
