"""The services as real local processes: started as ``smguard serve S``, watched, stopped.

One supervisor for ``smguard run`` and for everything that starts the system the same way
(end-to-end tests, benchmarks): a process per service, its output in ``<log dir>/<service>.log``,
ready when ``/readyz`` answers 200, stopped with SIGTERM (SIGKILL after a grace period).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import httpx

from shared.localbroker import broker_module
from shared.services import SERVICES

STOP_GRACE_SECONDS = 20.0


class ServiceExited(RuntimeError):
    """A service process ended while it was expected to run; the message ends with its log's tail."""


class Supervisor:
    """Service processes sharing one environment."""

    def __init__(self, *, env: dict[str, str], log_dir: Path, url_of: Callable[[str], str]) -> None:
        self.env, self.log_dir, self.url_of = env, log_dir, url_of
        self.children: dict[str, subprocess.Popen[bytes]] = {}

    def log(self, service: str) -> Path:
        """Where a service's output goes."""
        return self.log_dir / f"{service}.log"

    def start(self, services: Iterable[str]) -> None:
        """Start each service (its output appended to its log)."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for service in services:
            with open(self.log(service), "ab") as out:
                self.children[service] = subprocess.Popen(
                    [sys.executable, "-m", "shared.cli", "serve", service],
                    env=self.env, stdout=out, stderr=subprocess.STDOUT,
                )  # fmt: skip

    def wait_ready(
        self, services: Iterable[str], *, timeout: float, on_ready: Callable[[str], None] | None = None
    ) -> None:
        """Wait until every service answers ``/readyz``; ServiceExited or TimeoutError (with the log's tail)."""
        deadline = time.monotonic() + timeout
        pending = list(services)
        while pending:
            for service in list(pending):
                if self.children[service].poll() is not None:
                    raise ServiceExited(f"{service} exited; the end of {self.log(service)}:\n{self.tail(service)}")
                if self._ready(service):
                    pending.remove(service)
                    if on_ready:
                        on_ready(service)
            if pending and time.monotonic() > deadline:
                tails = "\n".join(f"--- {s}:\n{self.tail(s)}" for s in pending)
                raise TimeoutError(f"not ready after {timeout:.0f}s: {', '.join(pending)}\n{tails}")
            time.sleep(0.2)

    def _ready(self, service: str) -> bool:
        try:
            return httpx.get(f"{self.url_of(service)}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def stopped(self) -> list[str]:
        """Services whose process has ended."""
        return [name for name, child in self.children.items() if child.poll() is not None]

    def stop(self, services: Iterable[str] | None = None, *, kill: bool = False) -> None:
        """Stop services (all by default): SIGTERM and a grace period, or SIGKILL at once with ``kill`` (a crash)."""
        chosen = [s for s in (services or list(self.children)) if s in self.children]
        for service in chosen:
            child = self.children[service]
            if child.poll() is None:
                child.kill() if kill else child.terminate()
        for service in chosen:
            child = self.children.pop(service)
            try:
                child.wait(timeout=STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()

    def tail(self, service: str, chars: int = 3000) -> str:
        """The end of a service's log."""
        path = self.log(service)
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""


@dataclass
class System:
    """The four services on free ports, sharing one broker and topic prefix (tests, benchmarks)."""

    bootstrap: str
    prefix: str
    data_dir: Path
    secret: str
    extra_env: dict[str, str] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    supervisor: Supervisor | None = None

    def env(self) -> dict[str, str]:
        """The environment every service gets."""
        free_port = broker_module().free_port
        self.ports = self.ports or {service: free_port() for service in SERVICES}
        return {
            **os.environ,
            "SMGUARD_KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "SMGUARD_TOPIC_PREFIX": self.prefix,
            "SMGUARD_DATA_DIR": str(self.data_dir),
            "SMGUARD_JWT_SECRET": self.secret,
            "SMGUARD_TOPIC_PARTITIONS": "2",
            **{f"SMGUARD_{s.upper()}_PORT": str(p) for s, p in self.ports.items()},
            **self.extra_env,
        }

    def start(self, *services: str, timeout: float = 90.0) -> None:
        """Start services (all by default) and wait until each answers /readyz."""
        if self.supervisor is None:
            self.supervisor = Supervisor(env=self.env(), log_dir=self.data_dir / "logs", url_of=self.url)
        chosen = services or SERVICES
        self.supervisor.start(chosen)
        self.supervisor.wait_ready(chosen, timeout=timeout)

    def url(self, service: str) -> str:
        """The service's base URL."""
        return f"http://127.0.0.1:{self.ports[service]}"

    def stop(self, *services: str, kill: bool = False) -> None:
        """Stop services (all by default): SIGTERM, or SIGKILL with ``kill`` (a crash)."""
        if self.supervisor is not None:
            self.supervisor.stop(services or None, kill=kill)

    def logs(self) -> str:
        """Everything every service wrote."""
        if self.supervisor is None:
            return ""
        return "\n".join(self.supervisor.log(s).read_text(errors="replace") for s in SERVICES if self.supervisor.log(s).exists())
