#!/usr/bin/env python3
"""A local single-node Apache Kafka broker (KRaft, broker+controller in one JVM), no Docker.

The broker is the one the apache/kafka image runs, taken as jars from Maven Central
(infra/kafka/pom.xml) and started with plain `java`. Standard library only, so it
works before the project's virtualenv exists.

CLI::

    python infra/kafka/broker.py fetch    # download the jars once (needs mvn)
    python infra/kafka/broker.py up       # fetch + format + start detached + wait until ready
    python infra/kafka/broker.py status   # exit 0 when running, 3 when not
    python infra/kafka/broker.py down     # SIGTERM, wait for a clean exit, SIGKILL after 30 s
    python infra/kafka/broker.py run      # foreground, Ctrl-C stops it cleanly

    options: [--data-dir DIR] [--port 9092] [--controller-port 9093] [--security-dir DIR]
    JVM heap: -Xms256m -Xmx512m, or KAFKA_HEAP_OPTS (e.g. "-Xms1g -Xmx1g") when set.

Python API (used by the test fixtures)::

    ensure_jars(libs_dir)                 # the `fetch` step
    broker = LocalBroker(data_dir=..., port=free_port(), controller_port=free_port())
    broker.start(); broker.wait_ready(60); broker.bootstrap  # "127.0.0.1:<port>"
    broker.stop()

Layout of the data dir (default <repo>/.data/kafka)::

    server.properties   rendered broker config (rewritten on every start)
    broker.pid          pid of the running JVM
    kraft/              log.dirs: topic data and the KRaft metadata log
    logs/server.log     broker log (log4j2, see infra/kafka/log4j2.properties)
    logs/stdout.log     stdout/stderr of a detached JVM (warnings, crashes)
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import re
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

KAFKA_DIR = Path(__file__).resolve().parent
REPO_ROOT = KAFKA_DIR.parent.parent
POM = KAFKA_DIR / "pom.xml"
LOG4J_CONFIG = KAFKA_DIR / "log4j2.properties"
DEFAULT_LIBS_DIR = REPO_ROOT / ".cache" / "kafka" / "libs"
DEFAULT_DATA_DIR = REPO_ROOT / ".data" / "kafka"
DEFAULT_PORT = 9092
DEFAULT_CONTROLLER_PORT = 9093
HOST = "127.0.0.1"
ADMIN_USER = "admin"  # the broker's super-user when secured (see shared/kafka/tls.py)

MIN_JAVA = 17
READY_TIMEOUT = 120.0  # a JVM start on a busy two-core machine
STOP_TIMEOUT = 30.0
STARTED_MARKERS = ("Kafka Server started", "Transition from STARTING to STARTED")
JVM_OPTS = [
    "-Xms256m",
    "-Xmx512m",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-Djava.awt.headless=true",
]

# A cluster (LocalCluster): three nodes on one machine, each with a small heap.
CLUSTER_NODES = 3
CLUSTER_REPLICATION_FACTOR = 3
CLUSTER_MIN_INSYNC_REPLICAS = 2
CLUSTER_HEAP = ["-Xms128m", "-Xmx256m"]

JAVA_MISSING = (
    "smguard needs Java 17+ to run the local Kafka broker: install e.g. Debian package "
    "openjdk-17-jre-headless, or set KAFKA_BOOTSTRAP_SERVERS to a broker you have"
)
MVN_MISSING = (
    "smguard needs Maven (mvn) once to download the Kafka broker jars: install e.g. Debian "
    "package maven, or set KAFKA_BOOTSTRAP_SERVERS to a broker you have"
)

# Exit codes of the CLI.
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2  # a prerequisite is missing (java, mvn, a free port): a friendly one-liner
EXIT_NOT_RUNNING = 3  # `status` when no broker runs (LSB convention)


class BrokerError(Exception):
    """Something the user can fix; str() is a one-line, friendly explanation."""

    exit_code = EXIT_FAILED


class PrerequisiteError(BrokerError):
    """java/mvn missing or too old, or a port taken by another program."""

    exit_code = EXIT_USAGE


# --------------------------------------------------------------------------- helpers


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def port_in_use(port: int, host: str = HOST) -> bool:
    """True when something listens on host:port (the JVM binds with SO_REUSEADDR too)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def new_cluster_id() -> str:
    """A KRaft cluster id: a 22-character base64url UUID.

    Like Kafka's own Uuid.randomUuid(), never one starting with "-": command-line
    parsers (kafka-storage's among them) would take it for an option.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


def find_java() -> str:
    """Path of a Java 17+ `java` ($JAVA_HOME first, then PATH), else PrerequisiteError."""
    candidates = []
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidates.append(str(Path(java_home) / "bin" / "java"))
    on_path = shutil.which("java")
    if on_path:
        candidates.append(on_path)
    for java in candidates:
        if os.access(java, os.X_OK) and (java_major_version(java) or 0) >= MIN_JAVA:
            return java
    raise PrerequisiteError(JAVA_MISSING)


def java_major_version(java: str) -> int | None:
    """17 for 'openjdk version "17.0.15"', 8 for '"1.8.0_392"'; None when unknown."""
    try:
        out = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not match:
        return None
    major = int(match.group(1))
    if major == 1 and match.group(2):  # Java 8 and older: "1.8.0"
        major = int(match.group(2))
    return major


def kafka_version(pom: Path = POM) -> str:
    """The Kafka version pinned in infra/kafka/pom.xml."""
    root = ET.parse(pom).getroot()
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    node = root.find("m:properties/m:kafka.version", ns)
    if node is None or not (node.text or "").strip():
        raise BrokerError(f"{pom} has no <kafka.version> property")
    return node.text.strip()


def jars_present(libs_dir: Path, version: str | None = None) -> bool:
    libs_dir = Path(libs_dir)
    if version:
        return (libs_dir / f"kafka_2.13-{version}.jar").is_file()
    return any(libs_dir.glob("kafka_2.13-*.jar"))


def ensure_jars(libs_dir: Path = DEFAULT_LIBS_DIR, *, quiet: bool = False) -> Path:
    """Download the broker jars with Maven unless libs_dir already has this Kafka version.

    Maven writes into a sibling temp dir that replaces libs_dir only when complete, so
    an interrupted download never leaves a half-filled libs dir behind.
    """
    libs_dir = Path(libs_dir)
    version = kafka_version()
    if jars_present(libs_dir, version):
        return libs_dir
    mvn = shutil.which("mvn")
    if not mvn:
        raise PrerequisiteError(MVN_MISSING)
    libs_dir.parent.mkdir(parents=True, exist_ok=True)
    if not quiet:
        print(f"Downloading Kafka {version} jars into {_short(libs_dir)} (once) ...", flush=True)
    partial = Path(tempfile.mkdtemp(prefix=libs_dir.name + ".partial-", dir=libs_dir.parent))
    try:
        cmd = [
            mvn, "-B", "-q", "-f", str(POM), "dependency:copy-dependencies",
            "-DincludeScope=runtime", f"-DoutputDirectory={partial}",
        ]  # fmt: skip
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0 or not jars_present(partial, version):
            sys.stderr.write(result.stdout + result.stderr)
            raise BrokerError(
                f"Maven could not download the Kafka {version} jars (exit {result.returncode}); "
                "see its output above"
            )
        if libs_dir.exists():
            shutil.rmtree(libs_dir)
        partial.rename(libs_dir)
    finally:
        if partial.exists():
            shutil.rmtree(partial, ignore_errors=True)
    return libs_dir


def render_settings(
    *, data_dir: Path, port: int, controller_port: int, security_dir: Path | None = None, host: str = HOST,
    node_id: int = 1, voters: dict[int, int] | None = None,
) -> dict[str, str]:
    """The properties of a KRaft broker+controller on ``host``: a single node, or node ``node_id`` of a cluster.

    ``voters`` (node id → controller port on 127.0.0.1, every node of the cluster): a cluster with a static
    controller quorum, every topic (the internal ones too) replicated to three nodes (fewer when the cluster
    is smaller) and written only while two replicas are in sync. None: the single node, as before.

    Without ``security_dir``: PLAINTEXT, open to anyone who reaches the port. With it (the files of
    ``shared/kafka/tls.py``: ca.pem, broker.p12, broker.p12.password, admin.password): clients speak
    SASL_SSL (TLS; SCRAM-SHA-512 for the services' principals, PLAIN for the broker's own "admin"),
    the controller listener SASL_PLAINTEXT on loopback, and ACLs deny whatever is not granted.
    """
    kraft_dir = Path(data_dir) / "kraft"
    settings = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.bootstrap.servers": f"{HOST}:{controller_port}",
        "listeners": f"PLAINTEXT://{host}:{port},CONTROLLER://{HOST}:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{HOST}:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(kraft_dir),
        # One node: internal topics cannot have more than one replica.
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "num.network.threads": "2",
        "num.io.threads": "2",
        # Topics are created explicitly by the services / tests; events are kept forever.
        "auto.create.topics.enable": "false",
        "log.retention.ms": "-1",
    }
    if voters and len(voters) > 1:
        settings.pop("controller.quorum.bootstrap.servers")  # static voters instead
        settings.update(cluster_settings(node_id=node_id, voters=voters))
    if security_dir is not None:
        settings.update(security_settings(Path(security_dir), host=host, port=port, controller_port=controller_port))
    return settings


def cluster_settings(*, node_id: int, voters: dict[int, int]) -> dict[str, str]:
    """What a node of a cluster changes from the single node: its id, the quorum, replication everywhere."""
    if node_id not in voters:
        raise BrokerError(f"node {node_id} is not one of the cluster's nodes {sorted(voters)}")
    replicas = str(min(CLUSTER_REPLICATION_FACTOR, len(voters)))
    in_sync = str(min(CLUSTER_MIN_INSYNC_REPLICAS, len(voters)))
    return {
        "node.id": str(node_id),
        # A static quorum: every node knows every voter from the start (formatted without --standalone).
        "controller.quorum.voters": ",".join(f"{n}@{HOST}:{p}" for n, p in sorted(voters.items())),
        "default.replication.factor": replicas,
        "min.insync.replicas": in_sync,
        "offsets.topic.replication.factor": replicas,
        "transaction.state.log.replication.factor": replicas,
        "transaction.state.log.min.isr": in_sync,
        "share.coordinator.state.topic.replication.factor": replicas,
        "share.coordinator.state.topic.min.isr": in_sync,
        # Never elect a replica that was out of sync: an acknowledged write is never taken back.
        "unclean.leader.election.enable": "false",
    }


def security_settings(
    folder: Path, *, host: str = HOST, port: int = DEFAULT_PORT, controller_port: int = DEFAULT_CONTROLLER_PORT
) -> dict[str, str]:
    """The properties that make the broker secured: TLS, SASL, deny-by-default ACLs."""
    admin = _read_secret(folder / "admin.password")
    keystore_password = _read_secret(folder / "broker.p12.password")
    plain = ('org.apache.kafka.common.security.plain.PlainLoginModule required '
             f'username="{ADMIN_USER}" password="{admin}" user_{ADMIN_USER}="{admin}";')  # fmt: skip
    return {
        "listeners": f"SASL_SSL://{host}:{port},CONTROLLER://{HOST}:{controller_port}",
        "advertised.listeners": f"SASL_SSL://{HOST}:{port}",
        "listener.security.protocol.map": "CONTROLLER:SASL_PLAINTEXT,SASL_SSL:SASL_SSL",
        "inter.broker.listener.name": "SASL_SSL",
        "sasl.mechanism.inter.broker.protocol": "PLAIN",
        "sasl.mechanism.controller.protocol": "PLAIN",
        "listener.name.sasl_ssl.sasl.enabled.mechanisms": "SCRAM-SHA-512,PLAIN",
        "listener.name.sasl_ssl.plain.sasl.jaas.config": plain,
        "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config":
            "org.apache.kafka.common.security.scram.ScramLoginModule required;",
        "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
        "listener.name.controller.plain.sasl.jaas.config": plain,
        "ssl.keystore.type": "PKCS12",
        "ssl.keystore.location": str(folder / "broker.p12"),
        "ssl.keystore.password": keystore_password,
        "ssl.key.password": keystore_password,
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(folder / "ca.pem"),
        "ssl.client.auth": "none",
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users": f"User:{ADMIN_USER}",
        "allow.everyone.if.no.acl.found": "false",
    }


def render_config(
    *, data_dir: Path, port: int, controller_port: int, security_dir: Path | None = None,
    node_id: int = 1, voters: dict[int, int] | None = None,
) -> str:
    """server.properties of a KRaft broker+controller on 127.0.0.1 (a single node, or a node of a cluster)."""
    settings = render_settings(data_dir=data_dir, port=port, controller_port=controller_port, security_dir=security_dir,
                               node_id=node_id, voters=voters)  # fmt: skip
    lines = ["# Rendered by infra/kafka/broker.py on every start; edit that file, not this one."]
    lines += [f"{key}={_escape_property(value)}" for key, value in settings.items()]
    return "\n".join(lines) + "\n"


def _read_secret(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError as exc:
        raise BrokerError(f"the broker's security material is incomplete: {path} ({exc.strerror})") from None


def _escape_property(value: str) -> str:
    # java.util.Properties treats backslashes as escapes (Windows paths, odd dir names).
    return value.replace("\\", "\\\\")


def _short(path: Path) -> str:
    """path relative to the repo when inside it (friendlier messages)."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def api_versions_ok(host: str, port: int, timeout: float = 2.0, *, ca_file: Path | None = None) -> bool:
    """Send a Kafka ApiVersions v0 request; True when the broker answers without error.

    With ``ca_file`` the request goes over TLS, the broker's certificate checked against that CA
    (Kafka answers ApiVersions before SASL authentication).
    """
    client_id = b"smguard-broker-py"
    correlation_id = 0x534D47
    body = struct.pack(">hhih", 18, 0, correlation_id, len(client_id)) + client_id
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw:
            sock = raw
            if ca_file is not None:
                sock = ssl.create_default_context(cafile=str(ca_file)).wrap_socket(raw, server_hostname=host)
            sock.settimeout(timeout)
            sock.sendall(struct.pack(">i", len(body)) + body)
            header = _recv_exact(sock, 4)
            (size,) = struct.unpack(">i", header)
            if size < 6 or size > 1_000_000:
                return False
            payload = _recv_exact(sock, size)
    except OSError:
        return False
    got_correlation, error_code = struct.unpack(">ih", payload[:6])
    return got_correlation == correlation_id and error_code == 0


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed")
        buf += chunk
    return buf


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    try:  # a zombie (exited, not yet reaped by its parent) counts as gone
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _cmdline(pid: int) -> str:
    proc = Path(f"/proc/{pid}/cmdline")
    if Path("/proc/self/cmdline").exists():
        try:
            return proc.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            return ""
    try:  # no /proc (macOS)
        out = subprocess.run(
            ["ps", "-ww", "-o", "command=", "-p", str(pid)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        return out.stdout
    except OSError:
        return ""


# --------------------------------------------------------------------------- the broker


class LocalBroker:
    """One single-node KRaft broker running from the jars in libs_dir.

    State lives in data_dir, so a broker started by one process (`broker.py up`) can be
    found, checked and stopped by another (`broker.py status|down`).
    """

    def __init__(
        self,
        *,
        data_dir: Path,
        port: int = DEFAULT_PORT,
        controller_port: int = DEFAULT_CONTROLLER_PORT,
        libs_dir: Path = DEFAULT_LIBS_DIR,
        security_dir: Path | None = None,
        node_id: int = 1,
        voters: dict[int, int] | None = None,
        cluster_id: str | None = None,
        heap: list[str] | None = None,
    ) -> None:
        self.data_dir = Path(data_dir).absolute()
        # A node of a cluster (LocalCluster): its id, every node's controller port, the id they share.
        self.node_id, self.voters, self.cluster_id = int(node_id), dict(voters or {}), cluster_id
        self.heap = list(heap or [])  # e.g. ["-Xmx256m"]; KAFKA_HEAP_OPTS still wins
        # TLS + SASL + ACLs with the material in this folder (see render_settings); None: PLAINTEXT.
        self.security_dir = Path(security_dir).absolute() if security_dir else None
        self.port = int(port)
        self.controller_port = int(controller_port)
        self.libs_dir = Path(libs_dir).absolute()
        self._proc: subprocess.Popen | None = None

    def __repr__(self) -> str:
        return f"LocalBroker(bootstrap={self.bootstrap!r}, data_dir={str(self.data_dir)!r})"

    # paths --------------------------------------------------------------------------
    @property
    def bootstrap(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def config_file(self) -> Path:
        return self.data_dir / "server.properties"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "broker.pid"

    @property
    def kraft_dir(self) -> Path:
        return self.data_dir / "kraft"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def server_log(self) -> Path:
        return self.log_dir / "server.log"

    @property
    def stdout_log(self) -> Path:
        return self.log_dir / "stdout.log"

    # state --------------------------------------------------------------------------
    def pid(self) -> int | None:
        """Pid of this data dir's running broker, or None (a stale pid file is removed)."""
        if self._proc is not None:
            if self._proc.poll() is None:
                return self._proc.pid
            return None
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        cmdline = _cmdline(pid) if _pid_alive(pid) else ""
        if "kafka.Kafka" in cmdline and str(self.config_file) in cmdline:
            return pid
        self.pid_file.unlink(missing_ok=True)
        return None

    def is_running(self) -> bool:
        return self.pid() is not None

    def running_port(self) -> int | None:
        """The client port the broker of this data dir was started with (its config file)."""
        try:
            text = self.config_file.read_text()
        except OSError:
            return None
        match = re.search(r"^advertised\.listeners=(?:PLAINTEXT|SASL_SSL)://[^:]+:(\d+)", text, re.M)
        return int(match.group(1)) if match else None

    def running_secured(self) -> bool:
        """True when the broker of this data dir was started secured (SASL_SSL; its config file says)."""
        try:
            return "advertised.listeners=SASL_SSL://" in self.config_file.read_text()
        except OSError:
            return False

    # lifecycle ----------------------------------------------------------------------
    def java_command(self, java: str, *, console_level: str = "WARN") -> list[str]:
        heap = os.environ.get("KAFKA_HEAP_OPTS", "").split() or self.heap
        opts = [o for o in JVM_OPTS if not (heap and o.startswith(("-Xms", "-Xmx")))] + heap
        return [
            java,
            *opts,
            f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
            f"-Dkafka.logs.dir={self.log_dir}",
            f"-Dsmguard.kafka.console.level={console_level}",
            "-cp",
            str(self.libs_dir / "*"),
            "kafka.Kafka",
            str(self.config_file),
        ]

    def format_storage(self, java: str) -> None:
        """Format kraft/ for a standalone controller, unless it already is."""
        if (self.kraft_dir / "meta.properties").is_file():
            return
        self.kraft_dir.mkdir(parents=True, exist_ok=True)
        # A single node is its own quorum (--standalone); a cluster's nodes share one id and static voters.
        quorum = [] if len(self.voters) > 1 else ["--standalone"]
        cmd = [
            java, "-Xmx256m", f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
            f"-Dkafka.logs.dir={self.log_dir}", "-Dsmguard.kafka.console.level=WARN",
            "-cp", str(self.libs_dir / "*"), "kafka.tools.StorageTool", "format",
            *quorum, "-t", self.cluster_id or new_cluster_id(), "-c", str(self.config_file), "-g",
        ]  # fmt: skip
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()
            raise BrokerError(
                "formatting the Kafka storage in "
                f"{self.kraft_dir} failed: {detail[-1] if detail else result.returncode}"
            )

    def _check_ports(self) -> None:
        for port, what in ((self.port, "--port"), (self.controller_port, "--controller-port")):
            if port_in_use(port):
                raise PrerequisiteError(
                    f"port {port} on {HOST} is already in use by another program: stop it, "
                    f"choose another with {what}, or set KAFKA_BOOTSTRAP_SERVERS to a broker "
                    "you have"
                )
        if self.port == self.controller_port:
            raise PrerequisiteError("--port and --controller-port must differ")

    def start(self, *, foreground: bool = False) -> int:
        """Fetch jars if needed, format storage if needed, launch the JVM; returns its pid.

        Detached (default): the JVM runs in its own session with stdout/stderr in
        logs/stdout.log (warnings only) and outlives this process. foreground=True:
        the JVM shares this terminal and logs at INFO (used by `broker.py run`).
        Does not wait for readiness: call wait_ready().
        """
        if self.is_running():
            raise BrokerError(f"a Kafka broker already runs from {self.data_dir}")
        java = find_java()
        ensure_jars(self.libs_dir)
        self._check_ports()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        config = render_config(
            data_dir=self.data_dir, port=self.port, controller_port=self.controller_port,
            security_dir=self.security_dir, node_id=self.node_id, voters=self.voters,
        )  # fmt: skip
        # It holds the broker's passwords when secured: owner-only from the first byte.
        fd = os.open(self.config_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(config)
        self.format_storage(java)
        self._log_start = self.server_log.stat().st_size if self.server_log.exists() else 0
        cmd = self.java_command(java, console_level="INFO" if foreground else "WARN")
        if foreground:
            self._proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, start_new_session=True, cwd=self.data_dir
            )
        else:
            with open(self.stdout_log, "ab") as out:
                self._proc = subprocess.Popen(
                    cmd,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    cwd=self.data_dir,
                )
        self.pid_file.write_text(f"{self._proc.pid}\n")
        return self._proc.pid

    def _log_says_started(self) -> bool:
        try:
            with open(self.server_log, "rb") as f:
                size = f.seek(0, os.SEEK_END)
                start = getattr(self, "_log_start", 0)
                if size < start:  # rolled over since start()
                    start = 0
                f.seek(start)
                text = f.read().decode(errors="replace")
        except OSError:
            return False
        return any(marker in text for marker in STARTED_MARKERS)

    def ready(self) -> bool:
        """Port answers a Kafka ApiVersions request and the log says the server started."""
        ca_file = self.security_dir / "ca.pem" if self.security_dir else None
        return self._log_says_started() and api_versions_ok(HOST, self.port, ca_file=ca_file)

    def wait_ready(self, timeout: float = READY_TIMEOUT, *, progress=None) -> float:
        """Block until ready(); returns the seconds waited. progress() is called ~2x/s."""
        began = time.monotonic()
        while True:
            if self.ready():
                return time.monotonic() - began
            if not self.is_running():
                raise BrokerError(
                    f"the Kafka broker exited during startup{self._exit_detail()}; "
                    f"see {_short(self.server_log)} and {_short(self.stdout_log)}"
                )
            if time.monotonic() - began > timeout:
                raise BrokerError(
                    f"the Kafka broker was not ready after {timeout:.0f}s; "
                    f"see {_short(self.server_log)}"
                )
            if progress:
                progress()
            time.sleep(0.5)

    def _exit_detail(self) -> str:
        if self._proc is not None and self._proc.returncode is not None:
            return f" (exit {self._proc.returncode})"
        return ""

    def stop(self, timeout: float = STOP_TIMEOUT) -> bool:
        """SIGTERM, wait up to timeout for a clean shutdown, then SIGKILL.

        Returns True when the broker exited cleanly (or was not running).
        """
        pid = self.pid()
        clean = True
        if pid is not None:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            if not self._wait_exit(pid, timeout):
                clean = False
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self._wait_exit(pid, 10)
        if self._proc is not None:
            self._proc.wait()
            self._proc = None
        self.pid_file.unlink(missing_ok=True)
        return clean

    def kill(self) -> None:
        """SIGKILL at once, as a crash or a lost machine would end it (no clean shutdown)."""
        pid = self.pid()
        if pid is not None:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._wait_exit(pid, 10)
        if self._proc is not None:
            self._proc.wait()
            self._proc = None
        self.pid_file.unlink(missing_ok=True)

    def _wait_exit(self, pid: int, timeout: float) -> bool:
        if self._proc is not None and self._proc.pid == pid:
            try:
                self._proc.wait(timeout)
                return True
            except subprocess.TimeoutExpired:
                return False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _pid_alive(pid):
                return True
            time.sleep(0.2)
        return not _pid_alive(pid)

    def wait(self) -> int:
        """Wait for a broker started by this object to exit; returns its exit code."""
        if self._proc is None:
            raise BrokerError("wait() needs a broker started by this object")
        code = self._proc.wait()
        self.pid_file.unlink(missing_ok=True)
        return code

    def __enter__(self) -> LocalBroker:
        self.start()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


# --------------------------------------------------------------------------- a cluster


class LocalCluster:
    """N KRaft nodes (each broker and controller) from the same jars on 127.0.0.1, secured alike.

    Node k (1..N) keeps its state in ``<data_dir>/node-<k>`` and listens on ``ports[k-1]`` (clients) and
    ``controller_ports[k-1]`` (the quorum). Every topic is replicated to three nodes and written while two
    are in sync (cluster_settings), so one node may die without losing or refusing a write. With
    ``security_dir`` every node uses the same CA, certificate (it names 127.0.0.1) and passwords.
    """

    def __init__(
        self,
        *,
        data_dir: Path,
        ports: list[int],
        controller_ports: list[int],
        libs_dir: Path = DEFAULT_LIBS_DIR,
        security_dir: Path | None = None,
        heap: list[str] | None = None,
    ) -> None:
        if len(ports) != len(controller_ports) or len(ports) < 1:
            raise BrokerError("a cluster needs as many controller ports as client ports, at least one of each")
        if len(set(ports) | set(controller_ports)) != 2 * len(ports):
            raise PrerequisiteError("every port of a cluster must differ from the others")
        self.data_dir = Path(data_dir).absolute()
        voters = {k + 1: int(p) for k, p in enumerate(controller_ports)}
        cluster_id = self._cluster_id()
        self.nodes = [
            LocalBroker(data_dir=self.data_dir / f"node-{k + 1}", port=port, controller_port=controller_ports[k],
                        libs_dir=libs_dir, security_dir=security_dir, node_id=k + 1, voters=voters,
                        cluster_id=cluster_id, heap=CLUSTER_HEAP if heap is None else heap)  # fmt: skip
            for k, port in enumerate(ports)
        ]

    @classmethod
    def on_free_ports(cls, *, data_dir: Path, nodes: int = CLUSTER_NODES, **kwargs) -> LocalCluster:
        """A cluster of ``nodes`` nodes on ports free right now."""
        ports: list[int] = []
        while len(ports) < 2 * nodes:
            port = free_port()
            if port not in ports:
                ports.append(port)
        return cls(data_dir=data_dir, ports=ports[:nodes], controller_ports=ports[nodes:], **kwargs)

    def __repr__(self) -> str:
        return f"LocalCluster(bootstrap={self.bootstrap!r}, data_dir={str(self.data_dir)!r})"

    def _cluster_id(self) -> str:
        """The id every node is formatted with: kept in the data dir, so a restarted node rejoins its cluster."""
        path = self.data_dir / "cluster.id"
        try:
            return path.read_text().strip()
        except OSError:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            cluster_id = new_cluster_id()
            path.write_text(cluster_id + "\n")
            return cluster_id

    @property
    def bootstrap(self) -> str:
        """Every node's client address, comma-separated (clients find the cluster from any one that answers)."""
        return ",".join(node.bootstrap for node in self.nodes)

    def node(self, node_id: int) -> LocalBroker:
        """The node with this id (1..N, the ids the cluster's metadata names as leaders)."""
        for node in self.nodes:
            if node.node_id == node_id:
                return node
        raise BrokerError(f"the cluster has no node {node_id} (nodes {[n.node_id for n in self.nodes]})")

    def running(self) -> list[int]:
        """The ids of the nodes whose JVM runs."""
        return [node.node_id for node in self.nodes if node.is_running()]

    def start(self) -> None:
        """Start every node that does not run (they elect a controller together: wait_ready() after)."""
        for node in self.nodes:
            if not node.is_running():
                node.start()

    def wait_ready(self, timeout: float = READY_TIMEOUT, *, progress=None) -> float:
        """Block until every running node is ready; returns the seconds waited."""
        began = time.monotonic()
        for node in self.nodes:
            if node.is_running() or node._proc is not None:
                node.wait_ready(max(1.0, timeout - (time.monotonic() - began)), progress=progress)
        return time.monotonic() - began

    def stop(self, timeout: float = STOP_TIMEOUT) -> bool:
        """Stop every node at once (SIGTERM; SIGKILL after timeout); True when all stopped cleanly.

        All together: a node stopped after the others would wait in vain for a controller quorum.
        """
        for node in self.nodes:
            pid = node.pid()
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        return all([node.stop(max(0.0, deadline - time.monotonic())) for node in self.nodes])

    def __enter__(self) -> LocalCluster:
        self.start()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


# --------------------------------------------------------------------------- CLI


def _dots() -> None:
    print(".", end="", flush=True)


def cmd_fetch(broker: LocalBroker, args: argparse.Namespace) -> int:
    version = kafka_version()
    if jars_present(broker.libs_dir, version):
        print(f"Kafka {version} jars already in {_short(broker.libs_dir)}")
        return EXIT_OK
    ensure_jars(broker.libs_dir)
    print(f"Kafka {version} jars in {_short(broker.libs_dir)}")
    return EXIT_OK


def cmd_up(broker: LocalBroker, args: argparse.Namespace) -> int:
    if broker.is_running():
        port = broker.running_port() or broker.port
        print(f"Kafka already running on {HOST}:{port} (pid {broker.pid()})")
        return EXIT_OK
    pid = broker.start()
    print(f"Starting Kafka (pid {pid}, log {_short(broker.server_log)}) ", end="", flush=True)
    try:
        took = broker.wait_ready(args.timeout, progress=_dots)
    except BaseException:
        print(flush=True)
        broker.stop()
        raise
    print(f" {took:.1f}s")
    print(f"Kafka ready on {broker.bootstrap}")
    return EXIT_OK


def cmd_down(broker: LocalBroker, args: argparse.Namespace) -> int:
    pid = broker.pid()
    if pid is None:
        print("Kafka is not running")
        return EXIT_OK
    print(f"Stopping Kafka (pid {pid}) ...", flush=True)
    began = time.monotonic()
    if broker.stop():
        print(f"Kafka stopped ({time.monotonic() - began:.1f}s)")
    else:
        print(f"Kafka did not stop within {STOP_TIMEOUT:.0f}s and was killed")
    return EXIT_OK


def cmd_status(broker: LocalBroker, args: argparse.Namespace) -> int:
    pid = broker.pid()
    if pid is None:
        print(f"Kafka is not running (data dir {_short(broker.data_dir)})")
        return EXIT_NOT_RUNNING
    port = broker.running_port() or broker.port
    broker.port = port
    state = "ready" if broker.ready() else "starting"
    print(f"Kafka {state} on {HOST}:{port} (pid {pid}, data dir {_short(broker.data_dir)})")
    return EXIT_OK


def cmd_run(broker: LocalBroker, args: argparse.Namespace) -> int:
    if broker.is_running():
        port = broker.running_port() or broker.port
        raise BrokerError(
            f"Kafka already runs on {HOST}:{port} from {_short(broker.data_dir)} "
            f"(pid {broker.pid()}); stop it with `down` first"
        )

    def on_sigterm(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        broker.start(foreground=True)
        try:
            broker.wait_ready(args.timeout)
            print(f"Kafka ready on {broker.bootstrap} (Ctrl-C stops it)", flush=True)
            return broker.wait()
        except KeyboardInterrupt:
            print("\nStopping Kafka ... (Ctrl-C again kills it)", flush=True)
            try:
                broker.stop()
            except KeyboardInterrupt:
                broker.stop(timeout=0)
            print("Kafka stopped")
            return EXIT_OK
        except BaseException:
            broker.stop()
            raise
    finally:
        signal.signal(signal.SIGTERM, previous)


COMMANDS = {
    "fetch": (cmd_fetch, "download the Kafka broker jars (needs mvn, once)"),
    "up": (cmd_up, "start the broker in the background and wait until it is ready"),
    "down": (cmd_down, "stop the background broker cleanly"),
    "status": (cmd_status, "show whether the broker runs (exit 3 when not)"),
    "run": (cmd_run, "run the broker in the foreground (Ctrl-C stops it)"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="broker.py",
        description="Local single-node Kafka broker (KRaft) from Maven Central jars.",
    )
    parser.add_argument(
        "command", choices=COMMANDS, metavar="{" + ",".join(COMMANDS) + "}",
        help="; ".join(f"{name}: {desc}" for name, (_, desc) in COMMANDS.items()),
    )  # fmt: skip
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR,
                        help="broker state and logs (default: %(default)s)")  # fmt: skip
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help="client port on 127.0.0.1 (default: %(default)s)")  # fmt: skip
    parser.add_argument("--controller-port", type=int, default=DEFAULT_CONTROLLER_PORT,
                        help="KRaft controller port (default: %(default)s)")  # fmt: skip
    parser.add_argument("--libs-dir", type=Path, default=DEFAULT_LIBS_DIR,
                        help="where the jars are cached (default: %(default)s)")  # fmt: skip
    parser.add_argument("--timeout", type=float, default=READY_TIMEOUT,
                        help="seconds to wait for readiness (default: %(default)s)")  # fmt: skip
    parser.add_argument("--security-dir", type=Path, default=None,
                        help="secure the broker (TLS, SASL, ACLs) with the CA, certificate and passwords in this "
                             "folder, as `smguard kafka setup` makes them (default: PLAINTEXT)")  # fmt: skip
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    broker = LocalBroker(
        data_dir=args.data_dir,
        port=args.port,
        controller_port=args.controller_port,
        libs_dir=args.libs_dir,
        security_dir=args.security_dir,
    )
    handler, _ = COMMANDS[args.command]
    try:
        return handler(broker, args)
    except BrokerError as exc:
        print(f"error: {exc}" if exc.exit_code != EXIT_USAGE else str(exc), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
