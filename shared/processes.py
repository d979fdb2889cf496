"""The services as real local processes: started as ``smguard serve S``, watched, stopped.

One supervisor for ``smguard run`` and for everything that starts the system the same way
(end-to-end tests, benchmarks): a process per service, its output in ``<log dir>/<service>.log``,
ready when ``/readyz`` answers 200, stopped with SIGTERM (SIGKILL after a grace period).
``Supervisor.keep_running`` is ``smguard run``'s watch: a process that ends while nobody asked it to
stop is started again after a back-off (1 s doubling to 30 s, back to 1 s once it has stayed ready
for a minute), and the restart is said in the run's output and in the service's own log.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import httpx

from shared.localbroker import broker_module
from shared.services import CONSOLE, CONTAINMENT, PROCESSES, SERVICES

STOP_GRACE_SECONDS = 20.0
SIDE_NICENESS = 10
"""How much lower the CPU priority of the side services (notification, audit) is than the containment path's
(``nice``; ``SMGUARD_SIDE_NICENESS`` overrides, 0 for none): when the cores are busy, blocks go first; idle
cores still run everything."""
_SUPER_USER_ENV = ("SMGUARD_KAFKA_USERNAME", "SMGUARD_KAFKA_PASSWORD", "SMGUARD_KAFKA_PASSWORD_FILE")


@dataclass(frozen=True)
class Backoff:
    """How long to wait before starting a process that died again."""

    first: float = 1.0
    cap: float = 30.0
    reset_after: float = 60.0
    """Seconds ready without a death after which the next death waits ``first`` again."""

    def delay(self, deaths_in_a_row: int) -> float:
        """The wait before the restart after the n-th death in a row (n >= 1)."""
        return min(self.cap, self.first * 2 ** (deaths_in_a_row - 1))


@dataclass
class _Watch:
    """What the supervisor knows of one process it keeps running."""

    deaths: int = 0
    restarts: int = 0
    restart_at: float | None = None
    ready_since: float | None = None
    awaiting_ready: bool = False


class ServiceExited(RuntimeError):
    """A service process ended while it was expected to run; the message ends with its log's tail."""


def process_name(service: str, instance: int = 0) -> str:
    """How a supervised process is named: ``incident``, or ``incident/1`` for a further instance."""
    return service if instance == 0 else f"{service}/{instance}"


def parse_name(name: str) -> tuple[str, int]:
    """The service and instance of a process name."""
    service, _, instance = name.partition("/")
    return service, int(instance or 0)


class Supervisor:
    """Service processes sharing one environment; a name is a service, or ``service/K`` for its instance K."""

    def __init__(
        self, *, env: dict[str, str], log_dir: Path, url_of: Callable[[str], str], stop_request: StopRequest | None = None
    ) -> None:
        self.env, self.log_dir, self.url_of = env, log_dir, url_of
        self.stop_request = stop_request
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self._names: list[str] = []
        self.restarts: dict[str, int] = {}
        """How many times ``keep_running`` started each process again."""

    def log_names(self) -> list[str]:
        """Every process started so far (whose logs there are)."""
        return list(self._names)

    def log(self, name: str) -> Path:
        """Where a process's output goes."""
        return self.log_dir / f"{name.replace('/', '-')}.log"

    def start(self, names: Iterable[str]) -> None:
        """Start each process (its output appended to its log)."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for name in names:
            service, instance = parse_name(name)
            if name not in self._names:
                self._names.append(name)
            with open(self.log(name), "ab") as out, self._deferred():
                # A stop signal arriving now acts once the child is recorded, so stop() always finds it.
                self.children[name] = subprocess.Popen(
                    [sys.executable, "-m", "shared.cli", "serve", service, "--instance", str(instance)],
                    env=self.env, stdout=out, stderr=subprocess.STDOUT,
                )  # fmt: skip
            self._prioritise(service, self.children[name].pid)

    def _prioritise(self, service: str, pid: int) -> None:
        """Side services (not on the containment path) yield the CPU to it (``SIDE_NICENESS``)."""
        niceness = int(self.env.get("SMGUARD_SIDE_NICENESS", SIDE_NICENESS))
        if service in CONTAINMENT or niceness <= 0 or not hasattr(os, "setpriority"):
            return
        with contextlib.suppress(OSError):  # not permitted, or already gone: it runs at the normal priority
            os.setpriority(os.PRIO_PROCESS, pid, os.getpriority(os.PRIO_PROCESS, pid) + niceness)

    def wait_ready(
        self,
        names: Iterable[str],
        *,
        timeout: float,
        on_ready: Callable[[str], None] | None = None,
        on_progress: Callable[[str, str], None] | None = None,
    ) -> None:
        """Wait until every process answers ``/readyz``; ServiceExited, or TimeoutError when one makes no
        progress (its lag does not shrink) for ``timeout`` seconds — a long catch-up is not a failure."""
        pending = {name: Progress(time.monotonic() + timeout) for name in names}
        while pending:
            for name in list(pending):
                if self.children[name].poll() is not None:
                    raise ServiceExited(f"{name} exited; the end of {self.log(name)}:\n{self.tail(name)}")
                ready, lag = self._probe(name)
                if ready:
                    del pending[name]
                    if on_ready:
                        on_ready(name)
                elif pending[name].moved(lag, timeout) and on_progress:
                    on_progress(name, f"catching up: {lag:,} records behind")
            stuck = [name for name, progress in pending.items() if time.monotonic() > progress.deadline]
            if stuck:
                tails = "\n".join(f"--- {s}:\n{self.tail(s)}" for s in stuck)
                raise TimeoutError(f"no progress for {timeout:.0f}s: {', '.join(stuck)}\n{tails}")
            time.sleep(0.2)

    def _probe(self, name: str) -> tuple[bool, int | None]:
        """Whether the process is ready, and how far its projections are behind (None: no answer yet)."""
        try:
            answer = httpx.get(f"{self.url_of(name)}/readyz", timeout=2)
        except httpx.HTTPError:
            return False, None
        if answer.status_code == 200:
            return True, 0
        projections = answer.json().get("projections", {}) if answer.headers.get("content-type", "").startswith("application/json") else {}
        lags = [p.get("lag", -1) for p in projections.values() if isinstance(p, dict)]
        return False, sum(lag for lag in lags if lag > 0)


    def _deferred(self) -> Any:
        return self.stop_request.deferred() if self.stop_request is not None else contextlib.nullcontext()

    def keep_running(
        self,
        names: Iterable[str],
        *,
        until: Callable[[], bool],
        say: Callable[[str], None],
        backoff: Backoff = Backoff(),
        interval: float = 0.5,
    ) -> None:
        """Watch the processes until ``until()`` is true: one that ends is started again after the back-off.

        Each death, restart and return to readiness is said through ``say`` and noted in the process's
        own log. A stop signal is the caller's business: ``until`` says it arrived, then call ``stop()``.
        """
        watches = {name: _Watch(ready_since=time.monotonic()) for name in names}
        while not until():
            now = time.monotonic()
            for name, watch in watches.items():
                child = self.children.get(name)
                if watch.restart_at is None and child is not None and child.poll() is not None:
                    self._died(name, child, watch, backoff, now, say)
                elif watch.restart_at is not None and now >= watch.restart_at:
                    if until():
                        return
                    watch.restart_at, watch.awaiting_ready = None, True
                    watch.restarts += 1
                    self.restarts[name] = watch.restarts
                    self._note(name, f"restart {watch.restarts}: starting {name} again")
                    self.start([name])
                    say(f"{name} started again (pid {self.children[name].pid}, restart {watch.restarts})")
                elif watch.awaiting_ready and self._probe(name)[0]:
                    watch.awaiting_ready, watch.ready_since = False, now
                    self._note(name, f"restart {watch.restarts}: {name} ready again")
                    say(f"{name} ready again (pid {self.children[name].pid}, restart {watch.restarts})")
                elif watch.deaths and watch.ready_since is not None and now - watch.ready_since > backoff.reset_after:
                    watch.deaths = 0  # it stayed up: the next death waits the first delay again
            time.sleep(interval)

    def _died(self, name: str, child: subprocess.Popen[bytes], watch: _Watch, backoff: Backoff, now: float,
              say: Callable[[str], None]) -> None:  # fmt: skip
        watch.deaths += 1
        watch.ready_since, watch.awaiting_ready = None, False
        delay = backoff.delay(watch.deaths)
        watch.restart_at = now + delay
        how = _exit_description(child.returncode)
        self._note(name, f"{name} (pid {child.pid}) {how}; starting it again in {delay:g} s")
        say(f"{name} (pid {child.pid}) {how}; starting it again in {delay:g} s (see {self.log(name)})")

    def _note(self, name: str, line: str) -> None:
        """A line of the supervisor's own in a process's log."""
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        with open(self.log(name), "a", encoding="utf-8") as out:
            out.write(f"{stamp} [smguard run] {line}\n")

    def stopped(self) -> list[str]:
        """Services whose process has ended."""
        return [name for name, child in self.children.items() if child.poll() is not None]

    def stop(self, services: Iterable[str] | None = None, *, kill: bool = False, grace: float = STOP_GRACE_SECONDS) -> None:
        """Stop services (all by default): SIGTERM and ``grace`` seconds for all of them together, then SIGKILL;
        or SIGKILL at once with ``kill`` (a crash)."""
        chosen = [s for s in (services or list(self.children)) if s in self.children]
        for service in chosen:
            child = self.children[service]
            if child.poll() is None:
                child.kill() if kill else child.terminate()
        deadline = time.monotonic() + grace
        for service in chosen:
            child = self.children.pop(service)
            try:
                child.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()

    def tail(self, service: str, chars: int = 3000) -> str:
        """The end of a service's log."""
        path = self.log(service)
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""


def _exit_description(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


class StopRequest:
    """SIGINT and SIGTERM made into one orderly stop (``smguard run``).

    The first signal is noted and, unless a child is being started right now, interrupts what the
    main thread waits on (``KeyboardInterrupt``); once the stop has begun (``stopping()``), further
    signals are only noted — a second SIGTERM (``make`` passes its own on to its child, so a signal to
    the whole process group arrives twice) must not cut the stop short and leave the broker running.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.received: int | None = None
        self._deferring = 0
        self._stopping = False

    def install(self) -> "StopRequest":
        """Handle SIGINT and SIGTERM in this (main) thread from now on."""
        for signum in self.SIGNALS:
            signal.signal(signum, self._on_signal)
        return self

    def __call__(self) -> bool:
        """Whether a stop signal arrived."""
        return self.received is not None

    def stopping(self) -> None:
        """The stop has begun: from now on a signal interrupts nothing."""
        self._stopping = True

    def deferred(self) -> "_Deferred":
        """A block a signal does not interrupt (a child started and recorded); it acts right after."""
        return _Deferred(self)

    def _on_signal(self, signum: int, frame: object) -> None:
        first = self.received is None
        if first:
            self.received = signum
        if first and not self._stopping and not self._deferring:
            raise KeyboardInterrupt


class _Deferred:
    def __init__(self, request: StopRequest) -> None:
        self.request = request

    def __enter__(self) -> None:
        self.request._deferring += 1

    def __exit__(self, *exc: object) -> None:
        request = self.request
        request._deferring -= 1
        if request() and not request._deferring and not request._stopping and exc[0] is None:
            raise KeyboardInterrupt


class Progress:
    """When a process last moved towards readiness."""

    def __init__(self, deadline: float) -> None:
        self.deadline, self.best, self.shown = deadline, None, 0.0

    def moved(self, lag: int | None, timeout: float) -> bool:
        """Note a probe; True when it is time to show progress (the lag shrank, at most every 5 s)."""
        if lag is None or (self.best is not None and lag >= self.best):
            return False
        self.best, self.deadline = lag, time.monotonic() + timeout
        if time.monotonic() - self.shown < 5.0 or lag == 0:
            return False
        self.shown = time.monotonic()
        return True


@dataclass
class System:
    """The four services (and, when asked, the console) on free ports, sharing one broker and topic prefix
    (tests, benchmarks)."""

    bootstrap: str
    prefix: str
    data_dir: Path
    secret: str
    extra_env: dict[str, str] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    supervisor: Supervisor | None = None
    instance_port_base: int = 0
    console: bool = False
    """Start the web console too (``start()`` without names); tests of the services alone leave it out."""

    def env(self) -> dict[str, str]:
        """The environment every service gets."""
        free_port = broker_module().free_port
        self.ports = self.ports or {service: free_port() for service in PROCESSES}
        self.instance_port_base = self.instance_port_base or _free_block(4 * 8)
        # Each service connects as its own principal (``smguard serve`` finds its credentials in the data
        # dir, made by ``start``), never as the super-user this process may be.
        inherited = {k: v for k, v in os.environ.items() if k not in _SUPER_USER_ENV}
        return {
            **inherited,
            "SMGUARD_KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "SMGUARD_TOPIC_PREFIX": self.prefix,
            "SMGUARD_DATA_DIR": str(self.data_dir),
            "SMGUARD_JWT_SECRET": self.secret,
            "SMGUARD_TOPIC_PARTITIONS": "2",
            **{f"SMGUARD_{s.upper()}_PORT": str(p) for s, p in self.ports.items()},
            "SMGUARD_INSTANCE_PORT_BASE": str(self.instance_port_base),
            **self.extra_env,
        }

    def start(self, *services: str, timeout: float = 90.0) -> None:
        """Start services (all by default) and wait until each answers /readyz."""
        if self.supervisor is None:
            env = self.env()
            self.secure(int(env["SMGUARD_TOPIC_PARTITIONS"]))
            self.supervisor = Supervisor(env=env, log_dir=self.data_dir / "logs", url_of=self.url)
        chosen = services or (*SERVICES, *((CONSOLE,) if self.console else ()))
        self.supervisor.start(chosen)
        self.supervisor.wait_ready(chosen, timeout=timeout)

    def secure(self, partitions: int) -> None:
        """On a secured broker: the topics, and each service's principal and ACLs (as ``smguard run`` does)."""
        from shared.config import Settings
        from shared.kafka.access import setup

        settings = Settings(kafka_bootstrap_servers=self.bootstrap, topic_prefix=self.prefix, data_dir=self.data_dir,
                            topic_partitions=partitions)  # fmt: skip
        if settings.kafka_security_protocol.startswith("SASL_"):
            setup(settings)

    def url(self, name: str) -> str:
        """The base URL of a service (``incident``) or of one of its instances (``incident/1``)."""
        service, instance = parse_name(name)
        if instance == 0:
            return f"http://127.0.0.1:{self.ports[service]}"
        return f"http://127.0.0.1:{self.instance_port_base + 4 * (instance - 1) + SERVICES.index(service)}"

    def stop(self, *services: str, kill: bool = False) -> None:
        """Stop services (all by default): SIGTERM, or SIGKILL with ``kill`` (a crash)."""
        if self.supervisor is not None:
            self.supervisor.stop(services or None, kill=kill)

    def logs(self) -> str:
        """Everything every service wrote."""
        if self.supervisor is None:
            return ""
        logs = [self.supervisor.log(name) for name in self.supervisor.log_names()]
        return "\n".join(path.read_text(errors="replace") for path in logs if path.exists())


def _free_block(size: int) -> int:
    """The first port of ``size`` consecutive ports that are free now (for further instances' ports)."""
    free_port = broker_module().free_port
    while True:
        first = free_port()
        if first + size < 65535 and all(_is_free(first + i) for i in range(size)):
            return first


def _is_free(port: int) -> bool:
    import socket

    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False
