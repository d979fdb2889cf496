"""``smguard run``: the whole system on this machine — the Kafka broker and every service.

Data stays in the git-ignored ``.data`` folder between runs; Ctrl-C stops everything.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from shared.cli.serve import SERVICES
from shared.config import Settings, get_settings
from shared.localbroker import broker_module


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments."""
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for readiness")


def available_services() -> list[str]:
    """The services whose code exists in this checkout."""
    return [s for s in SERVICES if importlib.util.find_spec(f"services.{s}.bootstrap") is not None]


def _port_busy(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def start_broker(settings: Settings) -> object | None:
    """Start the local broker unless a bootstrap server was configured; None when not ours."""
    if "SMGUARD_KAFKA_BOOTSTRAP_SERVERS" in os.environ:
        print(f"Using the Kafka broker at {settings.kafka_bootstrap_servers}")
        return None
    module = broker_module()
    host, port = settings.kafka_bootstrap_servers.rsplit(":", 1)
    broker = module.LocalBroker(data_dir=settings.data_dir / "kafka", port=int(port), controller_port=int(port) + 1)
    if broker.is_running():
        print(f"Kafka already running on {broker.bootstrap}")
        return None
    broker.start()
    broker.wait_ready(60, progress=lambda: print(".", end="", flush=True))
    print(f"\nKafka ready on {broker.bootstrap} (data in {broker.data_dir})")
    return broker


def main(args: argparse.Namespace) -> int:
    """Start everything, say where it answers, wait for Ctrl-C, stop everything."""
    settings = get_settings()
    services = available_services()
    busy = [s for s in services if _port_busy(settings.host, settings.port_of(s))]
    if busy:
        ports = ", ".join(f"{s} {settings.port_of(s)}" for s in busy)
        print(f"smguard run: port in use ({ports}); stop what holds it or set SMGUARD_<SERVICE>_PORT", file=sys.stderr)
        return 2
    module = broker_module()
    try:
        broker = start_broker(settings)
    except module.PrerequisiteError as exc:
        print(f"smguard run: {exc}", file=sys.stderr)
        return 2
    children = _spawn(settings, services)
    try:
        _wait_ready(settings, services, children, args.timeout)
        _print_where(settings, services)
        while all(child.poll() is None for child in children.values()):
            time.sleep(0.5)
        dead = [name for name, child in children.items() if child.poll() is not None]
        print(f"smguard run: {', '.join(dead)} stopped; see {_log_dir(settings)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nstopping …")
        return 0
    finally:
        _stop(children)
        if broker is not None:
            broker.stop()
        print("stopped")


def _log_dir(settings: Settings) -> Path:
    path = settings.data_dir / "logs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _spawn(settings: Settings, services: list[str]) -> dict[str, subprocess.Popen[bytes]]:
    children = {}
    for service in services:
        log = open(_log_dir(settings) / f"{service}.log", "ab")
        children[service] = subprocess.Popen(
            [sys.executable, "-m", "shared.cli", "serve", service], stdout=log, stderr=subprocess.STDOUT
        )
    return children


def _wait_ready(settings: Settings, services: list[str], children: dict, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pending = set(services)
    while pending:
        for service in list(pending):
            if children[service].poll() is not None:
                raise SystemExit(f"smguard run: {service} exited; see {_log_dir(settings) / (service + '.log')}")
            try:
                url = f"http://{settings.host}:{settings.port_of(service)}/readyz"
                if httpx.get(url, timeout=2).status_code == 200:
                    pending.discard(service)
                    print(f"  {service:<13} ready")
            except httpx.HTTPError:
                pass
        if time.monotonic() > deadline:
            raise SystemExit(f"smguard run: not ready after {timeout:.0f}s: {', '.join(sorted(pending))}")
        time.sleep(0.3)


def _print_where(settings: Settings, services: list[str]) -> None:
    print("\nsmguard is running:")
    for service in services:
        base = f"http://{settings.host}:{settings.port_of(service)}"
        print(f"  {service:<13} {base}   API docs {base}/docs")
    print("\nA token:  .venv/bin/smguard token --role utility_soc")
    print(f"Logs:     {_log_dir(settings)}/")
    print("Ctrl-C stops everything.")


def _stop(children: dict[str, subprocess.Popen[bytes]]) -> None:
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for child in children.values():
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()
