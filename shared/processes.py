"""The services as real local processes, started the way ``smguard run`` starts them (end-to-end tests, benchmarks)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from shared.localbroker import broker_module

SERVICES = ("incident", "connection", "notification", "audit")


@dataclass
class System:
    """The four services as child processes on free ports, sharing one broker and topic prefix."""

    bootstrap: str
    prefix: str
    data_dir: Path
    secret: str
    extra_env: dict[str, str] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    children: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        """The environment every service gets."""
        free_port = broker_module().free_port
        self.ports = self.ports or {service: free_port() for service in SERVICES}
        env = {
            **os.environ,
            "SMGUARD_KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "SMGUARD_TOPIC_PREFIX": self.prefix,
            "SMGUARD_DATA_DIR": str(self.data_dir),
            "SMGUARD_JWT_SECRET": self.secret,
            "SMGUARD_TOPIC_PARTITIONS": "2",
            **{f"SMGUARD_{s.upper()}_PORT": str(p) for s, p in self.ports.items()},
            **self.extra_env,
        }
        return env

    def log(self, service: str) -> Path:
        """Where a service's output goes."""
        return self.data_dir / "logs" / f"{service}.log"

    def start(self, *services: str, timeout: float = 90.0) -> None:
        """Start services (all by default) and wait until each answers /readyz."""
        env = self.env()
        (self.data_dir / "logs").mkdir(parents=True, exist_ok=True)
        for service in services or SERVICES:
            with open(self.log(service), "ab") as out:
                self.children[service] = subprocess.Popen(
                    [sys.executable, "-m", "shared.cli", "serve", service], env=env, stdout=out, stderr=subprocess.STDOUT
                )
        for service in services or SERVICES:
            self._wait_ready(service, timeout)

    def _wait_ready(self, service: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.children[service].poll() is not None:
                raise RuntimeError(f"{service} exited:\n{self.log(service).read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url(service)}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"{service} not ready in {timeout}s:\n{self.log(service).read_text()[-3000:]}")

    def url(self, service: str) -> str:
        """The service's base URL."""
        return f"http://127.0.0.1:{self.ports[service]}"

    def stop(self, *services: str, kill: bool = False) -> None:
        """Stop services (all by default): SIGTERM, or SIGKILL with ``kill`` (a crash)."""
        for service in services or list(self.children):
            child = self.children.pop(service, None)
            if child is None or child.poll() is not None:
                continue
            child.kill() if kill else child.terminate()
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()

    def logs(self) -> str:
        """Everything every service wrote."""
        return "\n".join(self.log(s).read_text(errors="replace") for s in SERVICES if self.log(s).exists())
