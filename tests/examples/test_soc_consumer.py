"""examples/soc_consumer.py, run as a SOC engineer would run it: its own process, a read-only principal, the real broker."""

from __future__ import annotations

import ast
import asyncio
import json
import os
import sys

import pytest

from shared.config import REPO_ROOT, Settings
from shared.envelope import encode, kafka_headers
from shared.kafka import clients
from tests.factories import StandInWriter, connection_registered, incident_opened, operator_onboarded, soc_principal, uid

EXAMPLE = REPO_ROOT / "examples" / "soc_consumer.py"


def test_the_example_needs_nothing_of_smguards() -> None:
    tree = ast.parse(EXAMPLE.read_text())
    roots = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    roots |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert roots & {"shared", "services", "tests"} == set() and "aiokafka" in roots


async def run_example(soc: Settings, tmp_path) -> list[dict]:
    """Run the example to the end of the topics in its group ``siem``; the events it printed."""
    env = {"PATH": os.environ.get("PATH", ""), "SMGUARD_KAFKA_BOOTSTRAP_SERVERS": soc.kafka_bootstrap_servers,
           "SMGUARD_KAFKA_SECURITY_PROTOCOL": soc.kafka_security_protocol, "SMGUARD_KAFKA_CA_FILE": str(soc.kafka_ca_file or ""),
           "SMGUARD_KAFKA_USERNAME": soc.kafka_username or "", "SMGUARD_KAFKA_PASSWORD": soc.kafka_password.get_secret_value(),
           "SMGUARD_TOPIC_PREFIX": soc.topic_prefix}  # fmt: skip
    process = await asyncio.create_subprocess_exec(sys.executable, str(EXAMPLE), "--group", "siem", "--until-end", env=env,
                                                   cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, err.decode()
    return [json.loads(line) for line in out.decode().splitlines()]


@pytest.mark.integration
async def test_it_prints_each_event_once_even_delivered_twice_and_resumes_after_what_it_committed(settings, tmp_path) -> None:
    incident, connection = uid("inc"), uid("conn")
    async with StandInWriter(settings) as writer:
        written = [
            *await writer.append(incident, [incident_opened(incident, "op-a")]),
            *await writer.append(connection, [connection_registered(connection, "op-a")]),
            *await writer.append("op-a", [operator_onboarded("op-a")]),
        ]
    again = encode(written[0])  # the same event written a second time, as a writer's retry would
    producer = clients.producer(settings)
    await producer.start()
    try:
        await producer.send_and_wait(settings.topic(type(written[0].event).topic), again.value, key=again.key,
                                     headers=kafka_headers(again))  # fmt: skip
    finally:
        await producer.stop()
    soc = await soc_principal(settings)

    printed = await run_example(soc, tmp_path)
    assert sorted(event["id"] for event in printed) == sorted(envelope.id for envelope in written)
    assert await run_example(soc, tmp_path) == []  # its group committed after handling: a second run has nothing new
