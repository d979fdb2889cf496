"""``smguard run``: the whole system on this machine — the Kafka broker and every service.

Data stays in the git-ignored ``.data`` folder between runs. It supervises: a service process that
dies is started again (with a back-off); Ctrl-C, SIGINT or SIGTERM — to it or to its whole process
group, as systemd, ``timeout`` and most supervisors send — stops every service and then the broker it
started, each at most once and all within 30 s, so nothing is left running.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import signal
import socket
import sys
import time
from pathlib import Path

from shared import devsecrets
from shared.auth import TokenConfigError, check_settings
from shared.cli.client import base_url
from shared.config import Settings, get_settings
from shared.devhes import DevHes
from shared.devmail import start_catcher
from shared.kafka.access import AccessError
from shared.kafka.access import setup as setup_access
from shared.kafka.clients import KafkaAccessError
from shared.kafka.tls import ensure_material, material_folder
from shared.localbroker import broker_module
from shared.processes import ServiceExited, StopRequest, Supervisor, parse_name, process_name
from shared.services import CONSOLE, PROCESSES

DEV_SMTP_PORT = 8025
DEV_HES_PORT = 8099
# A stop signal stops everything within 30 s: the services first (in-flight appends finished or refused,
# then SIGKILL), then the broker with what is left of the budget (a clean shutdown; SIGKILL at the end).
STOP_WITHIN = 28.0
SERVICES_GRACE = 15.0
BROKER_GRACE_MIN = 5.0
DEV_KAFKA_PORT = 9092  # the local broker's client port; its controller listens on the next one
DEV_WEBHOOK_NETWORKS = "127.0.0.0/8,::1/128"  # local webhook receivers; only this development run allows them


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments."""
    parser.add_argument("--timeout", type=float, default=120.0,
                        help="give up when a service makes no progress towards readiness for this many seconds")
    parser.add_argument("--instances", type=int, default=1,
                        help="instances of each service (they share the work by partitions); the first keeps the default ports")
    parser.add_argument("--brokers", type=int, default=1,
                        help="Kafka brokers to start: 1, or a cluster of N (3: every topic replicated three times, "
                             "written while two replicas are in sync, so one broker may fail); node k listens on the "
                             "broker port + 2(k-1) and the next port")


def available_services() -> list[str]:
    """The services (and the console) whose code exists in this checkout."""
    return [s for s in PROCESSES if importlib.util.find_spec(f"services.{s}.bootstrap") is not None]


def _port_busy(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def local_kafka_port() -> int:
    """The client port of the broker ``smguard run`` starts: SMGUARD_LOCAL_KAFKA_PORT, else 9092."""
    value = os.environ.get("SMGUARD_LOCAL_KAFKA_PORT", "").strip()
    if not value:
        return DEV_KAFKA_PORT
    if not value.isdigit() or not 0 < int(value) < 65535:
        raise ValueError(f"SMGUARD_LOCAL_KAFKA_PORT must be a port number below 65535, not {value!r}")
    return int(value)


def dev_hes_port() -> int:
    """The port of the development HES stand-in: SMGUARD_DEV_HES_PORT, else 8099."""
    value = os.environ.get("SMGUARD_DEV_HES_PORT", "").strip()
    if value and (not value.isdigit() or not 0 < int(value) < 65536):
        raise ValueError(f"SMGUARD_DEV_HES_PORT must be a port number, not {value!r}")
    return int(value) if value else DEV_HES_PORT


def start_broker(settings: Settings, stop: StopRequest | None = None, started: list[object] | None = None) -> object | None:
    """Start the local broker unless a bootstrap server was configured; None when not ours.

    Secured unless SMGUARD_KAFKA_SECURITY_PROTOCOL=PLAINTEXT: TLS with a CA and certificate made once
    into ``<data dir>/kafka-security``, SASL, and ACLs that deny what they do not grant. The broker is
    appended to ``started`` the moment its process exists, so a stop signal during its start-up still
    stops it; a stop signal never splits its launch from that record (``stop.deferred()``).
    """
    if "SMGUARD_KAFKA_BOOTSTRAP_SERVERS" in os.environ:
        print(f"Using the Kafka broker at {settings.kafka_bootstrap_servers}")
        return None
    module = broker_module()
    port = settings.kafka_bootstrap_servers.rsplit(":", 1)[1]  # main() put the local port there
    secured = settings.kafka_security_protocol != "PLAINTEXT"
    if secured and settings.kafka_security_protocol != "SASL_SSL":
        raise module.PrerequisiteError("the local broker speaks SASL_SSL or PLAINTEXT: set SMGUARD_KAFKA_SECURITY_PROTOCOL to one of them")
    security_dir = ensure_material(material_folder(settings.data_dir)).folder if secured else None
    broker = module.LocalBroker(data_dir=settings.data_dir / "kafka", port=int(port), controller_port=int(port) + 1,
                                security_dir=security_dir)  # fmt: skip
    if broker.is_running():
        if broker.running_secured() != secured:
            raise module.PrerequisiteError(
                f"the Kafka broker running from {broker.data_dir} is {'not ' if secured else ''}secured, unlike these "
                "settings: stop it (make kafka-down) and run again"
            )
        print(f"Kafka already running on {broker.bootstrap}")
        return None
    _launch(broker, broker.libs_dir, stop, started, ready_within=60)
    print(f"\nKafka ready on {broker.bootstrap} (data in {broker.data_dir})")
    return broker


def _launch(kafka: object, libs_dir: Path, stop: StopRequest | None, started: list[object] | None, *, ready_within: float) -> None:
    """Start a broker or cluster: recorded in ``started`` the moment its processes exist (a stop signal never
    splits the launch from that record), then wait until it answers."""
    broker_module().ensure_jars(libs_dir)  # a first download may take minutes: Ctrl-C may interrupt it
    with stop.deferred() if stop is not None else contextlib.nullcontext():
        kafka.start()  # type: ignore[attr-defined]
        if started is not None:
            started.append(kafka)
    kafka.wait_ready(ready_within, progress=lambda: print(".", end="", flush=True))  # type: ignore[attr-defined]


def start_cluster(settings: Settings, brokers: int, stop: StopRequest | None = None, started: list[object] | None = None) -> dict[str, str]:
    """Start a local cluster of ``brokers`` nodes (secured as the single broker; appended to ``started`` as soon
    as its processes exist); the environment that points the services at it, with replicated topics."""
    module = broker_module()
    if "SMGUARD_KAFKA_BOOTSTRAP_SERVERS" in os.environ:
        raise module.PrerequisiteError("--brokers starts a local cluster: unset SMGUARD_KAFKA_BOOTSTRAP_SERVERS, or "
                                       "leave --brokers out to use the broker it names")  # fmt: skip
    if settings.kafka_security_protocol not in ("SASL_SSL", "PLAINTEXT"):
        raise module.PrerequisiteError("the local cluster speaks SASL_SSL or PLAINTEXT: set SMGUARD_KAFKA_SECURITY_PROTOCOL to one of them")
    secured = settings.kafka_security_protocol == "SASL_SSL"
    security_dir = ensure_material(material_folder(settings.data_dir)).folder if secured else None
    first = int(settings.kafka_bootstrap_servers.split(",")[0].rsplit(":", 1)[1])
    cluster = module.LocalCluster(data_dir=settings.data_dir / f"kafka-cluster-{brokers}",
                                  ports=[first + 2 * k for k in range(brokers)],
                                  controller_ports=[first + 2 * k + 1 for k in range(brokers)], security_dir=security_dir)  # fmt: skip
    env = {
        "SMGUARD_KAFKA_BOOTSTRAP_SERVERS": cluster.bootstrap,
        "SMGUARD_TOPIC_REPLICATION_FACTOR": str(min(module.CLUSTER_REPLICATION_FACTOR, brokers)),
        "SMGUARD_TOPIC_MIN_INSYNC_REPLICAS": str(min(module.CLUSTER_MIN_INSYNC_REPLICAS, brokers)),
    }
    if cluster.running() == [n.node_id for n in cluster.nodes]:
        print(f"Kafka cluster already running on {cluster.bootstrap}")
        return env
    _launch(cluster, cluster.nodes[0].libs_dir, stop, started, ready_within=120)
    print(f"\nKafka cluster of {brokers} ready on {cluster.bootstrap} (data in {cluster.data_dir})")
    return env


def secure_broker(settings: Settings) -> None:
    """Topics, the services' principals and their ACLs, on a secured broker (idempotent)."""
    if settings.kafka_security_protocol.startswith("SASL_"):
        made = setup_access(settings)
        print(f"Kafka over {settings.kafka_security_protocol}: principals {', '.join(c.user for c in made.values())}, "
              f"each allowed only its own topics (CA {material_folder(settings.data_dir) / 'ca.pem'})")  # fmt: skip


def main(args: argparse.Namespace) -> int:
    """Start everything, say where it answers, keep the services running, stop everything on a signal."""
    settings = get_settings()
    if args.instances < 1:
        print("smguard run: --instances must be at least 1", file=sys.stderr)
        return 2
    if args.brokers < 1:
        print("smguard run: --brokers must be at least 1", file=sys.stderr)
        return 2
    try:
        check_settings(settings)  # before anything starts: each service would refuse these settings
        if "SMGUARD_KAFKA_BOOTSTRAP_SERVERS" not in os.environ:
            settings = settings.model_copy(update={"kafka_bootstrap_servers": f"127.0.0.1:{local_kafka_port()}"})
        hes_port = dev_hes_port()
    except (TokenConfigError, ValueError) as exc:
        print(f"smguard run: {exc}", file=sys.stderr)
        return 2
    # further instances share the services' work by partitions; the console is one (it keeps no shared state)
    names = [process_name(s, k) for k in range(args.instances) for s in available_services() if k == 0 or s != CONSOLE]
    wanted = {name: settings.port_of(*parse_name(name)) for name in names}
    if "SMGUARD_SMTP_HOST" not in os.environ:
        wanted["SMTP catcher"] = int(os.environ.get("SMGUARD_SMTP_PORT", DEV_SMTP_PORT))
    if "SMGUARD_ENFORCEMENT_URL" not in os.environ:
        wanted["HES stand-in"] = hes_port
    busy = {name: port for name, port in wanted.items() if _port_busy(settings.host, port)}
    if busy:
        ports = ", ".join(f"{name} {port}" for name, port in busy.items())
        print(f"smguard run: port in use ({ports}); stop what holds it or set SMGUARD_<SERVICE>_PORT", file=sys.stderr)
        return 2
    # From here on every start is undone however the run ends: SIGINT or SIGTERM (once or repeatedly, to
    # this process or its group), a service that cannot start, an error.
    stop = StopRequest().install()
    started: list[object] = []  # the broker, once its process exists
    helpers: list[object] = []
    supervisor: Supervisor | None = None
    module = broker_module()
    cluster_env: dict[str, str] = {}
    try:
        try:
            if args.brokers > 1:
                cluster_env = start_cluster(settings, args.brokers, stop, started)
                settings = settings.model_copy(update={
                    "kafka_bootstrap_servers": cluster_env["SMGUARD_KAFKA_BOOTSTRAP_SERVERS"],
                    "topic_replication_factor": int(cluster_env["SMGUARD_TOPIC_REPLICATION_FACTOR"]),
                    "topic_min_insync_replicas": int(cluster_env["SMGUARD_TOPIC_MIN_INSYNC_REPLICAS"]),
                })  # fmt: skip
            else:
                start_broker(settings, stop, started)
        except module.PrerequisiteError as exc:
            print(f"smguard run: {exc}", file=sys.stderr)
            return 2
        try:
            secure_broker(settings)
        except (AccessError, KafkaAccessError) as exc:
            print(f"smguard run: {exc}", file=sys.stderr)
            return 1
        env = {**os.environ, "SMGUARD_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers, **cluster_env}
        env = _dev_peers(settings, env, helpers, hes_port)
        supervisor = Supervisor(env=env, log_dir=_log_dir(settings), url_of=lambda name: base_url(settings, *parse_name(name)),
                                stop_request=stop)  # fmt: skip
        supervisor.start(names)
        for name in names:
            print(f"  {name:<15} started (pid {supervisor.children[name].pid})")
        supervisor.wait_ready(
            names, timeout=args.timeout, on_ready=lambda n: print(f"  {n:<15} ready"),
            on_progress=lambda n, what: print(f"  {n:<15} {what}"),
        )  # fmt: skip
        _print_where(settings, names)
        supervisor.keep_running(names, until=stop, say=lambda line: print(f"smguard run: {line}", flush=True))
        raise KeyboardInterrupt  # a signal arrived between two checks
    except (ServiceExited, TimeoutError) as exc:
        print(f"smguard run: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stop.stopping()  # a further signal (make passes SIGTERM on to its child) no longer interrupts this
        _stop_everything(stop, supervisor, helpers, started)


def _stop_everything(stop: StopRequest, supervisor: Supervisor | None, helpers: list[object], started: list[object]) -> None:
    """The services (their in-flight requests finished or refused), the development peers, then the broker."""
    why = f" ({signal.Signals(stop.received).name})" if stop.received else ""
    print(f"\nstopping{why} …", flush=True)
    deadline = time.monotonic() + STOP_WITHIN
    if supervisor is not None:
        supervisor.stop(grace=SERVICES_GRACE)
    for helper in helpers:
        helper.stop()  # type: ignore[attr-defined]
    for broker in started:
        pids = [n.pid() for n in getattr(broker, "nodes", [broker])]  # a cluster stops all its nodes
        print(f"stopping Kafka (pid {', '.join(str(p) for p in pids)}) …", flush=True)
        broker.stop(max(BROKER_GRACE_MIN, deadline - time.monotonic()))  # type: ignore[attr-defined]
    print("stopped", flush=True)


def _log_dir(settings: Settings) -> Path:
    path = settings.data_dir / "logs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _dev_peers(settings: Settings, env: dict[str, str], helpers: list[object], hes_port: int) -> dict[str, str]:
    """The development SMTP catcher and HES stand-in, unless real ones are configured (each added to
    ``helpers`` once started); the services' environment."""
    env = dict(env)
    if "SMGUARD_WEBHOOK_ALLOWED_CIDRS" not in os.environ:
        env["SMGUARD_WEBHOOK_ALLOWED_CIDRS"] = DEV_WEBHOOK_NETWORKS
        print(f"Contact webhooks may reach loopback ({DEV_WEBHOOK_NETWORKS}) for local receivers; production does not")
    if "SMGUARD_SMTP_HOST" not in os.environ:
        port = int(os.environ.get("SMGUARD_SMTP_PORT", DEV_SMTP_PORT))
        helpers.append(start_catcher(settings.data_dir / "mail", port=port))
        env.update(SMGUARD_SMTP_HOST="127.0.0.1", SMGUARD_SMTP_PORT=str(port))
        print(f"Development SMTP catcher on 127.0.0.1:{port} (read with: smguard mail)")
    if "SMGUARD_ENFORCEMENT_URL" not in os.environ:
        secret = devsecrets.configured_or_dev(
            os.environ.get("SMGUARD_ENFORCEMENT_SECRET"), settings.data_dir, devsecrets.ENFORCEMENT_SECRET
        ).decode()
        hes = DevHes(port=hes_port, secret=secret, folder=settings.data_dir / "hes")
        hes.start()
        helpers.append(hes)  # once serving: stop() waits for the serving loop to end
        env.update(SMGUARD_ENFORCEMENT_URL=f"http://127.0.0.1:{hes_port}/enforce", SMGUARD_ENFORCEMENT_SECRET=secret)
        env.setdefault("SMGUARD_ENFORCEMENT_MODE", os.environ.get("SMGUARD_ENFORCEMENT_MODE", "bulk"))  # the stand-in takes both forms
        print(f"Development HES stand-in on 127.0.0.1:{hes_port} (requests in {hes.log_file})")
    return env


def _print_where(settings: Settings, names: list[str]) -> None:
    print("\nsmguard is running:")
    for name in names:
        base = base_url(settings, *parse_name(name))
        print(f"  {name:<15} {base}   " + ("sign in here (browser)" if name == CONSOLE else f"API docs {base}/docs"))
    print("\nA token:  .venv/bin/smguard token --role utility_soc")
    print(f"Logs:     {_log_dir(settings)}/")
    print("A service that dies is started again. Ctrl-C (or SIGTERM) stops everything.", flush=True)
