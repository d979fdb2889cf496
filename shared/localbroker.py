"""The Kafka broker for tests and benchmarks, and access to the local broker tool.

``infra/kafka/broker.py`` (stdlib only, not a package) starts Apache Kafka from Maven Central jars;
``broker_module()`` loads it. ``provide_broker()`` yields a bootstrap string ("host:port") from the
first of:

1. the environment variable KAFKA_BOOTSTRAP_SERVERS (a broker you run yourself);
2. Docker, when an engine answers: a throwaway apache/kafka container (testcontainers);
3. the local broker from Maven Central jars, on free ports in a temporary data dir; needs
   Java 17+ (and Maven once, to download the jars).

Whatever the source, the broker is confirmed with a real Kafka metadata request (aiokafka admin
client) before it is used. The choice is logged on the logger "smguard.localbroker".

``provide_cluster(n=3)`` yields a ``LocalCluster`` of n nodes from the jars (always local: the fault
tests kill and restart its nodes), secured like the single broker, with this process's environment
saying how to reach it and what every topic needs (SMGUARD_KAFKA_BOOTSTRAP_SERVERS,
SMGUARD_TOPIC_REPLICATION_FACTOR=3, SMGUARD_TOPIC_MIN_INSYNC_REPLICAS=2), so services started from
it (``shared.processes.System``) create their topics replicated.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import gc
import importlib.util
import logging
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from types import ModuleType

from shared.config import REPO_ROOT
from shared.kafka.tls import ADMIN_USER, BrokerMaterial, ensure_material

log = logging.getLogger("smguard.localbroker")

BROKER_PY = REPO_ROOT / "infra" / "kafka" / "broker.py"
KAFKA_IMAGE = "apache/kafka:4.1.1"
ENV_BOOTSTRAP = "KAFKA_BOOTSTRAP_SERVERS"
READY_TIMEOUT = 120.0  # a JVM start on a busy two-core machine
DOCKER_READY_TIMEOUT = 120.0  # includes the JVM start inside a fresh container


@lru_cache
def broker_module() -> ModuleType:
    """infra/kafka/broker.py as a module (LocalBroker, free_port, errors); it is a script, not a package."""
    name = "smguard_local_kafka_broker"
    spec = importlib.util.spec_from_file_location(name, BROKER_PY)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {BROKER_PY}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses in it look their module up by name
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------- readiness


async def _describe_cluster(bootstrap: str, timeout: float) -> dict:
    from aiokafka.admin import AIOKafkaAdminClient

    from shared.config import Settings
    from shared.kafka.clients import access, aiokafka_options

    options = aiokafka_options(access(Settings(kafka_bootstrap_servers=bootstrap)))  # as SMGUARD_KAFKA_* say
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last_error: BaseException | None = None
    while True:
        admin = AIOKafkaAdminClient(**options, client_id="smguard-tests", request_timeout_ms=5000)
        try:
            await asyncio.wait_for(admin.start(), 10)
            cluster = await asyncio.wait_for(admin.describe_cluster(), 10)
            if cluster.get("brokers"):
                return cluster
            last_error = RuntimeError("metadata lists no brokers yet")
        except Exception as exc:  # not reachable yet: retry until the deadline
            last_error = exc
        finally:
            with contextlib.suppress(Exception):
                await admin.close()
        if loop.time() >= deadline:
            raise TimeoutError(
                f"Kafka at {bootstrap} did not answer a metadata request within {timeout:.0f}s: "
                f"{last_error!r}"
            )
        await asyncio.sleep(0.5)


def wait_for_metadata(bootstrap: str, timeout: float = READY_TIMEOUT) -> dict:
    """Block until a Kafka metadata request to bootstrap lists a broker; returns the cluster.

    Runs its own event loop in a worker thread, so it is safe to call from synchronous
    fixtures whatever event loop pytest-asyncio has set up in the main thread.
    """
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="kafka-ready") as pool:
        return pool.submit(asyncio.run, _describe_cluster(bootstrap, timeout)).result()


# --------------------------------------------------------------------------- sources


def docker_available() -> bool:
    """True when a Docker engine answers a ping (the `docker` client alone is not enough)."""
    answered = False
    with warnings.catch_warnings():
        # The Docker SDK leaks its socket when no engine answers; collect it quietly here.
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            import docker

            client = docker.from_env(timeout=5)
            try:
                answered = bool(client.ping())
            finally:
                client.close()
        except Exception:
            pass
        gc.collect()
    return answered


@contextlib.contextmanager
def _from_env(bootstrap: str) -> Iterator[str]:
    log.info("Kafka for tests: %s=%s", ENV_BOOTSTRAP, bootstrap)
    wait_for_metadata(bootstrap, timeout=30)
    yield bootstrap


@contextlib.contextmanager
def _docker_broker() -> Iterator[str]:
    from testcontainers.core.container import DockerContainer

    broker = broker_module()
    # Kafka hands its advertised address to clients, so the port seen from this machine
    # must be known before the container starts: listen inside the container on the
    # same (free) port number that is published on the Docker host.
    port = broker.free_port()
    container = DockerContainer(KAFKA_IMAGE)
    host = container.get_docker_client().host()
    with tempfile.TemporaryDirectory(prefix="smguard-kafka-", ignore_cleanup_errors=True) as tmp:
        # Secured like the local broker; the key, certificates and passwords go in as values (PEM),
        # so no file of this machine has to be readable by the container's user.
        material = ensure_material(Path(tmp) / "kafka-security")
        container.with_bind_ports(port, port).with_envs(
            CLUSTER_ID=broker.new_cluster_id(),
            **_container_env(broker, material, host=host, port=port),
        )
        bootstrap = f"{host}:{port}"
        log.info("Kafka for tests: Docker container %s on %s, TLS + SASL + ACLs", KAFKA_IMAGE, bootstrap)
        with container:
            with secured_env(material, mechanism="PLAIN"):
                wait_for_metadata(bootstrap, timeout=DOCKER_READY_TIMEOUT)
                admin_scram(bootstrap)
            with secured_env(material):
                yield bootstrap


def _container_env(broker: ModuleType, material: BrokerMaterial, *, host: str, port: int) -> dict[str, str]:
    """The apache/kafka image's environment for the same properties as the local broker's (KAFKA_A_B → a.b)."""
    properties = broker.render_settings(data_dir=Path("/var/lib/kafka"), port=port, controller_port=9093,
                                        security_dir=material.folder, host="0.0.0.0")  # fmt: skip
    properties["log.dirs"] = "/var/lib/kafka/data"
    properties["advertised.listeners"] = f"SASL_SSL://{host}:{port}"
    properties["controller.quorum.voters"] = "1@localhost:9093"
    properties.pop("controller.quorum.bootstrap.servers", None)
    properties["listeners"] = properties["listeners"].replace(f"{broker.HOST}:9093", "localhost:9093")
    for name in ("ssl.keystore.location", "ssl.keystore.password", "ssl.truststore.location"):
        properties.pop(name)
    key_pem, chain_pem = material.keystore_pem()
    properties |= {"ssl.keystore.type": "PEM", "ssl.keystore.key": key_pem, "ssl.keystore.certificate.chain": chain_pem,
                   "ssl.truststore.type": "PEM", "ssl.truststore.certificates": material.ca_file.read_text()}  # fmt: skip
    return {"KAFKA_" + k.replace("_", "__").replace("-", "___").replace(".", "_").upper(): v for k, v in properties.items()}


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@contextlib.contextmanager
def _local_broker() -> Iterator[str]:
    broker_mod = broker_module()
    port = broker_mod.free_port()
    controller_port = broker_mod.free_port()
    while controller_port == port:
        controller_port = broker_mod.free_port()
    with tempfile.TemporaryDirectory(prefix="smguard-kafka-", ignore_cleanup_errors=True) as tmp:
        material = ensure_material(Path(tmp) / "kafka-security")
        broker = broker_mod.LocalBroker(
            data_dir=Path(tmp) / "kafka", port=port, controller_port=controller_port, security_dir=material.folder
        )
        log.info(
            "Kafka for tests: local broker from jars on %s (data dir %s), TLS + SASL + ACLs", broker.bootstrap, tmp
        )
        try:
            broker.start()
            try:
                took = broker.wait_ready(READY_TIMEOUT)
                with secured_env(material, mechanism="PLAIN"):  # its SCRAM credential is made next
                    wait_for_metadata(broker.bootstrap, timeout=30)
                    admin_scram(broker.bootstrap)
            except broker_mod.BrokerError as exc:
                # The data dir (and its logs) is deleted on exit: show the end of the log now.
                raise RuntimeError(
                    f"{exc}\n--- server.log (tail) ---\n{_tail(broker.server_log)}"
                    f"\n--- stdout.log (tail) ---\n{_tail(broker.stdout_log)}"
                ) from exc
            log.info("Kafka for tests: local broker ready after %.1fs", took)
            with secured_env(material):
                yield broker.bootstrap
        except broker_mod.BrokerError as exc:
            # java/mvn missing, port taken, ...: a one-line explanation, no traceback noise.
            raise RuntimeError(str(exc)) from None
        finally:
            broker.stop()


@contextlib.contextmanager
def provide_cluster(n: int = 3, *, ready_timeout: float = 120.0) -> Iterator[ModuleType]:
    """A secured cluster of ``n`` KRaft nodes on free ports in a temporary dir; yields the ``LocalCluster``.

    While it runs, this process's environment points at it (and at topics with replication factor
    min(3, n) and min.insync.replicas min(2, n)); everything is stopped and deleted afterwards.
    """
    broker_mod = broker_module()
    with tempfile.TemporaryDirectory(prefix="smguard-cluster-", ignore_cleanup_errors=True) as tmp:
        material = ensure_material(Path(tmp) / "kafka-security")
        cluster = broker_mod.LocalCluster.on_free_ports(data_dir=Path(tmp) / "kafka", nodes=n, security_dir=material.folder)
        log.info("Kafka for tests: a cluster of %d local nodes on %s (data dir %s), TLS + SASL + ACLs", n,
                 cluster.bootstrap, tmp)  # fmt: skip
        layout = {
            "SMGUARD_KAFKA_BOOTSTRAP_SERVERS": cluster.bootstrap,
            "SMGUARD_TOPIC_REPLICATION_FACTOR": str(min(broker_mod.CLUSTER_REPLICATION_FACTOR, n)),
            "SMGUARD_TOPIC_MIN_INSYNC_REPLICAS": str(min(broker_mod.CLUSTER_MIN_INSYNC_REPLICAS, n)),
        }
        try:
            cluster.start()
            try:
                took = cluster.wait_ready(ready_timeout)
                with secured_env(material, mechanism="PLAIN"):
                    wait_for_brokers(cluster.bootstrap, n, timeout=60)
                    admin_scram(cluster.bootstrap)
            except broker_mod.BrokerError as exc:
                tails = "".join(f"\n--- node {node.node_id} server.log (tail) ---\n{_tail(node.server_log)}"
                                for node in cluster.nodes)  # fmt: skip
                raise RuntimeError(f"{exc}{tails}") from exc
            log.info("Kafka for tests: the cluster is ready after %.1fs", took)
            with secured_env(material, extra=layout):
                yield cluster
        except broker_mod.BrokerError as exc:
            raise RuntimeError(str(exc)) from None
        finally:
            cluster.stop()


def wait_for_brokers(bootstrap: str, count: int, timeout: float = READY_TIMEOUT) -> dict:
    """Block until the cluster's metadata lists ``count`` brokers (a restarted node has rejoined)."""
    end = time.monotonic() + timeout
    while True:
        cluster = wait_for_metadata(bootstrap, timeout=max(1.0, end - time.monotonic()))
        if len(cluster["brokers"]) >= count:
            return cluster
        if time.monotonic() > end:
            raise TimeoutError(f"the cluster at {bootstrap} lists {len(cluster['brokers'])} brokers, not {count}")
        time.sleep(0.5)


@contextlib.contextmanager
def secured_env(material: BrokerMaterial, *, mechanism: str = "SCRAM-SHA-512",
                 extra: dict[str, str] | None = None) -> Iterator[None]:
    """This process and its children connect as the broker's super-user, over TLS + SASL (as tests do)."""
    values = {
        "SMGUARD_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "SMGUARD_KAFKA_SASL_MECHANISM": mechanism,
        "SMGUARD_KAFKA_CA_FILE": str(material.ca_file),
        "SMGUARD_KAFKA_USERNAME": ADMIN_USER,
        "SMGUARD_KAFKA_PASSWORD": material.admin_password,
        **(extra or {}),
    }
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def admin_scram(bootstrap: str) -> None:
    """The super-user's SCRAM credential (the broker starts with PLAIN for it only)."""
    from shared.config import Settings
    from shared.kafka.access import admin_access, upsert_scram

    a = admin_access(Settings(kafka_bootstrap_servers=bootstrap))
    upsert_scram(a, ADMIN_USER, a.password or "")


@contextlib.contextmanager
def provide_broker() -> Iterator[str]:
    """Yield the bootstrap servers of a Kafka broker for the tests; clean up afterwards."""
    from_env = os.environ.get(ENV_BOOTSTRAP, "").strip()
    if from_env:
        source = _from_env(from_env)
    elif docker_available():
        source = _docker_broker()
    else:
        log.info("Kafka for tests: no %s and no Docker engine answering", ENV_BOOTSTRAP)
        source = _local_broker()
    with source as bootstrap:
        yield bootstrap
