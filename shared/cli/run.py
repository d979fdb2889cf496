"""``smguard run``: the whole system on this machine — the Kafka broker and every service.

Data stays in the git-ignored ``.data`` folder between runs; Ctrl-C stops everything.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from shared.cli.serve import SERVICES
from shared.config import Settings, get_settings
from shared.devhes import DevHes
from shared.devmail import start_catcher
from shared.localbroker import broker_module

DEV_SMTP_PORT = 8025
DEV_HES_PORT = 8099


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
    signal.signal(signal.SIGTERM, _stop_on_term)  # `kill` or a supervisor stops everything as Ctrl-C does
    wanted = {s: settings.port_of(s) for s in services}
    if "SMGUARD_SMTP_HOST" not in os.environ:
        wanted["SMTP catcher"] = int(os.environ.get("SMGUARD_SMTP_PORT", DEV_SMTP_PORT))
    if "SMGUARD_ENFORCEMENT_URL" not in os.environ:
        wanted["HES stand-in"] = DEV_HES_PORT
    busy = {name: port for name, port in wanted.items() if _port_busy(settings.host, port)}
    if busy:
        ports = ", ".join(f"{name} {port}" for name, port in busy.items())
        print(f"smguard run: port in use ({ports}); stop what holds it or set SMGUARD_<SERVICE>_PORT", file=sys.stderr)
        return 2
    module = broker_module()
    try:
        broker = start_broker(settings)
    except module.PrerequisiteError as exc:
        print(f"smguard run: {exc}", file=sys.stderr)
        return 2
    env, helpers = _dev_peers(settings)
    children = _spawn(settings, services, env)
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
        for helper in helpers:
            helper.stop()
        if broker is not None:
            broker.stop()
        print("stopped")


def _stop_on_term(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _log_dir(settings: Settings) -> Path:
    path = settings.data_dir / "logs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _dev_peers(settings: Settings) -> tuple[dict[str, str], list[object]]:
    """The development SMTP catcher and HES stand-in, unless real ones are configured."""
    env, helpers = dict(os.environ), []
    if "SMGUARD_SMTP_HOST" not in os.environ:
        port = int(os.environ.get("SMGUARD_SMTP_PORT", DEV_SMTP_PORT))
        helpers.append(start_catcher(settings.data_dir / "mail", port=port))
        env.update(SMGUARD_SMTP_HOST="127.0.0.1", SMGUARD_SMTP_PORT=str(port))
        print(f"Development SMTP catcher on 127.0.0.1:{port} (read with: smguard mail)")
    if "SMGUARD_ENFORCEMENT_URL" not in os.environ:
        secret = os.environ.get("SMGUARD_ENFORCEMENT_SECRET") or _dev_secret(settings.data_dir / "dev-enforcement-secret")
        hes = DevHes(port=DEV_HES_PORT, secret=secret, folder=settings.data_dir / "hes")
        hes.start()
        helpers.append(hes)
        env.update(SMGUARD_ENFORCEMENT_URL=f"http://127.0.0.1:{DEV_HES_PORT}/enforce", SMGUARD_ENFORCEMENT_SECRET=secret)
        print(f"Development HES stand-in on 127.0.0.1:{DEV_HES_PORT} (requests in {hes.log_file})")
    return env, helpers


def _dev_secret(path: Path) -> str:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def _spawn(settings: Settings, services: list[str], env: dict[str, str]) -> dict[str, subprocess.Popen[bytes]]:
    children = {}
    for service in services:
        log = open(_log_dir(settings) / f"{service}.log", "ab")
        children[service] = subprocess.Popen(
            [sys.executable, "-m", "shared.cli", "serve", service], stdout=log, stderr=subprocess.STDOUT, env=env
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
