"""``smguard run`` as a real subprocess on a fresh data dir and free ports, with its own broker."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from shared.config import REPO_ROOT
from shared.localbroker import broker_module
from shared.services import PROCESSES
from tests.factories import TEST_SECRET

START_TIMEOUT = 300.0  # a JVM and four services on a busy machine
STOP_DEADLINE = 30.0  # what smguard run promises on SIGINT or SIGTERM


def _free(port: int) -> bool:
    """Nothing holds the port (a connection in TIME_WAIT does not count: a server rebinds over it)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def _free_pair() -> int:
    free_port = broker_module().free_port
    while True:
        port = free_port()
        if port < 65534 and _free(port + 1):
            return port


def _alive(pid: int, cmd_part: str) -> bool:
    """The process runs (not a zombie) and is still the one we saw (its command line)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z" and cmd_part in cmdline


def descendants(root: int) -> dict[int, str]:
    """Every live process under ``root`` (any depth), with its command line."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    found, frontier = {}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in found:
                try:
                    found[pid] = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                except OSError:
                    continue
                frontier.append(pid)
    return found


class Run:
    """One ``smguard run`` in its own process group (as ``make run`` under systemd or ``timeout``)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        free_port = broker_module().free_port
        self.ports = {service: free_port() for service in PROCESSES}  # the console too: smguard run starts it
        self.kafka_port = _free_pair()
        self.smtp_port, self.hes_port = free_port(), free_port()
        from shared.processes import _free_block

        self.instance_port_base = _free_block(4 * 2)
        self.proc: subprocess.Popen[bytes] | None = None
        self.output = data_dir.parent / f"{data_dir.name}-run-{time.monotonic_ns()}.out"
        self.seen: dict[int, str] = {}

    def all_ports(self) -> list[int]:
        return [*self.ports.values(), self.kafka_port, self.kafka_port + 1, self.smtp_port, self.hes_port]

    def env(self) -> dict[str, str]:
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("SMGUARD_") and k != "KAFKA_BOOTSTRAP_SERVERS"}
        return {
            **inherited,
            "SMGUARD_DATA_DIR": str(self.data_dir),
            "SMGUARD_JWT_SECRET": TEST_SECRET,
            "SMGUARD_TOPIC_PARTITIONS": "2",
            "SMGUARD_LOCAL_KAFKA_PORT": str(self.kafka_port),
            "SMGUARD_DEV_HES_PORT": str(self.hes_port),
            "SMGUARD_SMTP_PORT": str(self.smtp_port),
            "SMGUARD_INSTANCE_PORT_BASE": str(self.instance_port_base),
            **{f"SMGUARD_{s.upper()}_PORT": str(p) for s, p in self.ports.items()},
            "KAFKA_HEAP_OPTS": os.environ.get("KAFKA_HEAP_OPTS", "-Xms256m -Xmx512m"),
        }

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def text(self) -> str:
        return self.output.read_text(errors="replace") if self.output.exists() else ""

    def start(self) -> None:
        """Start it and wait until it says everything is running."""
        with open(self.output, "ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-u", "-m", "shared.cli", "run"], cwd=REPO_ROOT, env=self.env(),
                                         stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT
        while "smguard is running" not in self.text():
            if self.proc.poll() is not None:
                raise AssertionError(f"smguard run exited ({self.proc.returncode}):\n{self.text()[-4000:]}")
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"smguard run not running after {START_TIMEOUT:.0f}s:\n{self.text()[-4000:]}")
            time.sleep(0.5)
        self.seen.update(self.processes())

    def processes(self) -> dict[int, str]:
        """smguard run itself, every process under it and the broker (its pid file), with command lines."""
        assert self.proc is not None
        found = {self.proc.pid: "shared.cli run", **descendants(self.proc.pid)}
        pid_file = self.data_dir / "kafka" / "broker.pid"
        if pid_file.exists():
            found[int(pid_file.read_text().strip())] = "kafka.Kafka"
        return found

    def service_pids(self) -> dict[str, int]:
        """The latest pid said for each service (``incident  started (pid N)`` or ``started again (pid N``)."""
        pids: dict[str, int] = {}
        for match in re.finditer(r"^(?:smguard run: )?\s*([a-z]+) +(?:started|started again) \(pid (\d+)", self.text(), re.M):
            pids[match.group(1)] = int(match.group(2))
        return pids

    def signal(self, signum: int, *, group: bool) -> None:
        assert self.proc is not None
        self.seen.update(self.processes())
        if group:
            os.killpg(self.proc.pid, signum)
        else:
            self.proc.send_signal(signum)

    def wait_stopped(self) -> tuple[int | None, float]:
        """The exit code (None: still running after the deadline) and the seconds it took."""
        assert self.proc is not None
        began = time.monotonic()
        try:
            code = self.proc.wait(STOP_DEADLINE)
        except subprocess.TimeoutExpired:
            code = None
        return code, time.monotonic() - began

    def left_running(self) -> dict[int, str]:
        """Processes of this run still running (matched by pid and command line)."""
        def part(cmd: str) -> str:
            return "kafka.Kafka" if "kafka.Kafka" in cmd else ("shared.cli" if "shared.cli" in cmd else cmd[:40])

        return {pid: cmd for pid, cmd in self.seen.items() if _alive(pid, part(cmd))}

    def busy_ports(self) -> list[int]:
        return [port for port in self.all_ports() if not _free(port)]

    def kill(self) -> None:
        """Last resort after a failed test: nothing of this run survives it."""
        if self.proc is not None and self.proc.poll() is None:
            self.seen.update(self.processes())
        for pid, cmd in self.left_running().items():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.proc is not None:
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
