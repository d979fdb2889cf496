"""Fault tests: a secured broker of their own (killed, restarted, paused), the four services as real
processes pointed at it, real SMTP and enforcement peers, a load of anomalies, and the history read back."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.auth import mint_token
from shared.config import Settings
from shared.devhes import DevHes
from shared.devmail import start_catcher
from shared.localbroker import READY_TIMEOUT, admin_scram, secured_env, broker_module, wait_for_metadata
from shared.kafka import clients
from shared.kafka.tls import ensure_material
from shared.processes import System
from shared.services import SERVICES
from shared.topics import ALL_TOPICS, DEAD_LETTERS, INCIDENT_EVENTS, SENSOR_ANOMALIES
from tests.factories import TEST_SECRET, eventually
from tests.faults import history as h

FULL = os.environ.get("SMGUARD_FAULTS_FULL") == "1"
ENFORCEMENT_SECRET = "faults-enforcement-secret-0123456789"
full_only = pytest.mark.skipif(not FULL, reason="a long variant: run make faults (SMGUARD_FAULTS_FULL=1)")


class OwnBroker:
    """A secured single-node broker on free ports that this module may kill, restart and pause."""

    def __init__(self, folder: Path) -> None:
        module = broker_module()
        port, controller = module.free_port(), module.free_port()
        while controller == port:
            controller = module.free_port()
        self.material = ensure_material(folder / "kafka-security")
        self.broker = module.LocalBroker(data_dir=folder / "kafka", port=port, controller_port=controller,
                                         security_dir=self.material.folder)  # fmt: skip
        self.bootstrap = self.broker.bootstrap

    def start(self) -> None:
        """Start on the same data dir and wait until it answers."""
        self.broker.start()
        self.broker.wait_ready(READY_TIMEOUT)

    def kill(self) -> None:
        """SIGKILL: a crash (the data dir stays)."""
        pid = self.broker.pid()
        assert pid is not None, "the broker is not running"
        os.kill(pid, signal.SIGKILL)
        self.broker.stop()  # reaps the process, removes the pid file

    def pause(self) -> None:
        os.kill(self._pid(), signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self._pid(), signal.SIGCONT)

    def _pid(self) -> int:
        pid = self.broker.pid()
        assert pid is not None, "the broker is not running"
        return pid


@pytest.fixture(scope="module")
def own_broker() -> Iterator[OwnBroker]:
    """This module's broker (never the session's): TLS + SASL/SCRAM + ACLs; this process its super-user."""
    with tempfile.TemporaryDirectory(prefix="smguard-faults-", ignore_cleanup_errors=True) as tmp:
        broker = OwnBroker(Path(tmp))
        try:
            broker.start()
            with secured_env(broker.material, mechanism="PLAIN"):
                wait_for_metadata(broker.bootstrap, timeout=30)
                admin_scram(broker.bootstrap)
            with secured_env(broker.material):
                yield broker
        finally:
            with_pid = broker.broker.pid()
            if with_pid is not None:
                os.kill(with_pid, signal.SIGCONT)
            broker.broker.stop()


@dataclass
class Rig:
    """A System on the module's broker with its peers, and what the test sent it."""

    system: System
    mail_dir: Path
    hes_log: Path
    settings: Settings
    sent: h.History = field(default_factory=h.History)
    operator: str = ""
    connections: list[str] = field(default_factory=list)

    def headers(self, role: str = "utility_soc", operator: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {mint_token(self.settings, role=role, operator_id=operator)}"}

    # ---------------------------------------------------------------- load

    async def onboard(self, meters: int) -> None:
        """An operator with its contacts and ``meters`` special meters; each 2xx id is acknowledged."""
        self.operator = f"op-f{uuid.uuid4().hex[:6]}"
        url, soc = self.system.url("connection"), self.headers()
        mine = self.headers("operator", self.operator)
        async with httpx.AsyncClient(timeout=60) as http:
            (await send(http, "POST", f"{url}/operators", headers=soc, json={
                "operator_id": self.operator, "name": "障害試験事業者", "agreement_date": "2026-04-01"})).raise_for_status()
            for kind in ("applicant", "security_incident"):
                body = {"name": "保安 花子", "organisation": "試験室", "phone": "052-000-0000",
                        "email": f"{kind.replace('_', '-')}@{self.operator}.example"}
                (await send(http, "PUT", f"{self.system.url('notification')}/operators/{self.operator}/contacts/{kind}",
                            headers=mine, json=body)).raise_for_status()
            gate = asyncio.Semaphore(20)

            async def one(i: int) -> str:
                body = {"kind": "special_meter", "maker": "M", "model": "X", "firmware": "1.0.0",
                        "smart_meter_ids": [f"sm-{self.operator}-{i}"],
                        "secrets": {"auth_id": f"a{i}", "password": f"p{i}", "pairing_id": f"q{i}"}}
                async with gate:
                    created = await send(http, "POST", f"{url}/connections", headers=mine, json=body)
                ident = created.raise_for_status().json()["id"]
                self.sent.acknowledged[ident] = "connection"
                return ident

            self.connections = list(await asyncio.gather(*[one(i) for i in range(meters)]))

    async def wait_known(self) -> None:
        """Until the incident service has read every registration (an anomaly over HTTP is accepted)."""
        async with httpx.AsyncClient(timeout=30) as http:
            for connection in (self.connections[0], self.connections[-1]):
                async def accepted(connection: str = connection) -> bool:
                    body = anomaly(connection)
                    answer = await http.post(f"{self.system.url('incident')}/anomalies", json=body,
                                             headers=self.headers("sensor"))
                    if answer.status_code == 202:
                        self.sent.anomalies.append(body["signal_id"])
                        self.sent.attacked.add(connection)
                        self.sent.acknowledged[answer.json()["incident_id"]] = "incident"
                    return answer.status_code == 202
                await eventually(accepted, timeout=90, interval=0.3, what="the incident service knows the meters")

    async def produce(self, count: int, *, first: int = 0) -> None:
        """``count`` anomalies on the sensors' topic, round-robin over the meters (each one attacked)."""
        producer = clients.producer(Settings(kafka_bootstrap_servers=self.system.bootstrap), linger_ms=5)
        await producer.start()
        try:
            topic = self.settings.topic(SENSOR_ANOMALIES)
            for i in range(first, first + count):
                connection = self.connections[i % len(self.connections)]
                body = anomaly(connection)
                await producer.send_and_wait(topic, _json(body), key=connection.encode())
                self.sent.anomalies.append(body["signal_id"])
                self.sent.attacked.add(connection)
        finally:
            await producer.stop()

    # ---------------------------------------------------------------- reading back

    def deliveries(self) -> list[h.Delivery]:
        lines = self.hes_log.read_text(encoding="utf-8").splitlines() if self.hes_log.exists() else []
        return h.enforcement_deliveries(lines) + h.mail_deliveries(self.mail_dir)

    async def all_blocks_enforced(self, timeout: float) -> None:
        """Until the enforcement peer has received a block for every attacked meter."""
        def done() -> bool:
            blocked = {d.logical.rsplit(":", 1)[0] for d in self.deliveries() if d.peer == "enforcement"}
            return self.sent.attacked <= blocked
        await eventually(done, timeout=timeout, interval=0.5, what="a block request for every attacked meter")

    async def all_anomalies_recorded(self, timeout: float) -> bool:
        """Until every anomaly sent is recorded on an incident (False when some never are: the checker says which)."""
        topic = self.settings.topic(INCIDENT_EVENTS)

        async def recorded() -> bool:
            events = await h.read_events(Settings(kafka_bootstrap_servers=self.system.bootstrap), [topic])
            seen = {e.data.get("signal_id") for e in events}
            return set(self.sent.anomalies) <= seen
        try:
            await eventually(recorded, timeout=timeout, interval=2, what="every anomaly recorded on an incident")
            return True
        except AssertionError:
            return False

    async def dead_letters(self) -> int:
        """How many records were dead-lettered (set aside unread)."""
        from shared.kafka.reader import assign_all, read_to_end

        consumer = clients.consumer(Settings(kafka_bootstrap_servers=self.system.bootstrap), isolation_level="read_committed")
        await consumer.start()
        try:
            partitions = await assign_all(consumer, [self.settings.topic(DEAD_LETTERS)])
            await consumer.seek_to_beginning(*partitions)
            return sum([len(batch) async for batch in read_to_end(consumer, partitions)])
        finally:
            await consumer.stop()

    async def read_back(self) -> h.History:
        """The history: what was sent, the topics (read_committed), the peers, a replay and a clean audit rebuild."""
        history = self.sent
        history.events = await h.read_events(Settings(kafka_bootstrap_servers=self.system.bootstrap),
                                             [self.settings.topic(t) for t in ALL_TOPICS])
        history.deliveries = self.deliveries()
        history.replay_differences = await asyncio.to_thread(self.replay)
        history.audit_root, history.rebuilt_audit_root = await self.audit_roots()
        return history

    def replay(self) -> dict[str, list[str]]:
        """``smguard replay`` (every service): the differences of each (none when its read models equal a rebuild)."""
        env = {**self.system.env(), **{k: v for k, v in os.environ.items() if k.startswith("SMGUARD_KAFKA_")}}
        env["SMGUARD_KAFKA_BOOTSTRAP_SERVERS"] = self.system.bootstrap
        done = subprocess.run([sys.executable, "-m", "shared.cli", "replay"], env=env, capture_output=True, text=True,
                              timeout=600)  # fmt: skip
        found: dict[str, list[str]] = {service: [] for service in SERVICES}
        current = ""
        for line in done.stdout.splitlines():
            head = line.split(":", 1)[0]
            if head in found and not line.startswith(" "):
                current = head
                if "no difference" not in line:
                    found[current].append(line)
            elif line.strip() and current:
                found[current].append(line.strip())
        if done.returncode != 0 and not any(found.values()):
            found["replay"] = [f"exit {done.returncode}: {done.stderr.strip()[-500:]}"]
        return {service: lines for service, lines in found.items() if lines}

    async def audit_roots(self) -> tuple[str | None, str | None]:
        """The live audit root, then the root of an audit service rebuilt from nothing (same topics)."""
        url = f"{self.system.url('audit')}/audit/verify"
        async with httpx.AsyncClient(timeout=60, headers=self.headers("auditor")) as http:
            live = (await http.get(url)).raise_for_status().json()
            await asyncio.to_thread(self.system.stop, "audit")
            kept = self.system.data_dir / "audit"
            before = self.system.data_dir / f"audit-before-{uuid.uuid4().hex[:4]}"
            shutil.move(kept, before)
            kept.mkdir()
            for key in before.glob("*.pem"):  # the same signing key; the log itself starts from nothing
                shutil.copy2(key, kept / key.name)
            for state in (self.system.data_dir / "state").glob("audit-*"):
                state.unlink()
            await asyncio.to_thread(self.system.start, "audit")
            stored = _entry_count(before / "audit-log.sqlite")  # what it logged until it stopped (≥ what it said)

            async def rebuilt() -> dict[str, Any] | None:
                answer = (await http.get(url)).json()
                return answer if answer.get("size", 0) >= max(live["size"], stored) else None
            again = await eventually(rebuilt, timeout=120, interval=0.5, what="the rebuilt audit log caught up")
        if again["size"] == live["size"]:
            return live["root"], again["root"]
        # Later writes (a delivery retried after a back-off) reached the rebuild but not the live read: the live
        # log must then be exactly the rebuild's beginning, entry for entry in every partition's log.
        differs = _first_difference(before / "audit-log.sqlite", kept / "audit-log.sqlite")
        return live["root"], (live["root"] if differs is None else differs)


def _entry_count(path: Path) -> int:
    import sqlite3

    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return int(db.execute("SELECT COUNT(*) FROM entries").fetchone()[0])
    finally:
        db.close()


def _first_difference(live: Path, rebuilt: Path) -> str | None:
    """Where the live audit log is not the beginning of the rebuilt one (a log, an entry), or None."""
    import sqlite3

    def entries(path: Path) -> dict[str, list[tuple[int, bytes]]]:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            found: dict[str, list[tuple[int, bytes]]] = {}
            for log, offset, leaf in db.execute("SELECT log, kafka_offset, leaf_hash FROM entries ORDER BY log, idx"):
                found.setdefault(log, []).append((offset, leaf))
            return found
        finally:
            db.close()

    was, now = entries(live), entries(rebuilt)
    for log, logged in was.items():
        again = now.get(log, [])
        for i, entry in enumerate(logged):
            if i >= len(again) or again[i] != entry:
                return f"{log} entry {i} differs from the rebuild"
    return None


async def send(http: httpx.AsyncClient, method: str, url: str, **options: Any) -> httpx.Response:
    """A request as a well-behaved client makes it: a 503 (a rebalance under way) is retried after its
    Retry-After, for up to a minute."""
    deadline = asyncio.get_running_loop().time() + 60
    while True:
        answer = await http.request(method, url, **options)
        if answer.status_code != 503 or asyncio.get_running_loop().time() > deadline:
            return answer
        await asyncio.sleep(float(answer.headers.get("retry-after", "1")))  # what the server asked for


def anomaly(connection: str) -> dict[str, Any]:
    return {"signal_id": uuid.uuid4().hex, "connection_id": connection, "type": "unauthorized_access",
            "severity": "high", "observed_at": datetime.now(timezone.utc).isoformat(), "evidence": {"fault": True}}


def _json(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()


@pytest.fixture
def rig(own_broker: OwnBroker, tmp_path: Path) -> Iterator[Rig]:
    """The four services as ``smguard run`` starts them, on the module's broker, with mail and HES peers."""
    free_port = broker_module().free_port
    smtp_port, hes_port = free_port(), free_port()
    catcher = start_catcher(tmp_path / "mail", port=smtp_port)
    hes = DevHes(port=hes_port, secret=ENFORCEMENT_SECRET, folder=tmp_path / "hes")
    hes.start()
    system = System(
        bootstrap=own_broker.bootstrap, prefix=f"f{uuid.uuid4().hex[:6]}.", data_dir=tmp_path / "services",
        secret=TEST_SECRET,
        extra_env={
            "SMGUARD_SMTP_HOST": "127.0.0.1", "SMGUARD_SMTP_PORT": str(smtp_port),
            "SMGUARD_ENFORCEMENT_URL": f"http://127.0.0.1:{hes_port}/enforce",
            "SMGUARD_ENFORCEMENT_SECRET": ENFORCEMENT_SECRET,
            "SMGUARD_DISPATCH_INTERVAL_SECONDS": "0.2", "SMGUARD_ENFORCEMENT_SWEEP_SECONDS": "0.2",
            "SMGUARD_GROUP_SESSION_SECONDS": "6", "SMGUARD_LOG_LEVEL": "WARNING",
        },
    )
    settings = Settings(kafka_bootstrap_servers=own_broker.bootstrap, topic_prefix=system.prefix, jwt_secret=TEST_SECRET)
    try:
        system.start(timeout=120)
        yield Rig(system, tmp_path / "mail", hes.log_file, settings)
    finally:
        system.stop()
        hes.stop()
        catcher.stop()


@pytest.fixture
def operator_id() -> str:
    """A unique operator (tenant) id."""
    from tests.factories import uid

    return uid("op")


async def send_raw(settings, base: str, records: list[tuple[bytes | None, bytes | None]]) -> None:
    """Write records as they are (key, value) to a topic, with a plain producer: what a broken writer could send."""
    producer = clients.producer(settings, acks="all")
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(settings.topic(base), value, key=key)
    finally:
        await producer.stop()
