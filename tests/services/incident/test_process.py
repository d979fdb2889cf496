"""The incident service as a real process (``smguard serve incident``) on the real broker."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from tests.factories import TEST_SECRET, bearer, eventually, free_port
from tests.services.incident.helpers import incident_body


async def test_smguard_serve_incident_answers_over_http(settings, operator_id, tmp_path):
    port = free_port()
    env = os.environ | {
        "SMGUARD_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "SMGUARD_TOPIC_PREFIX": settings.topic_prefix,
        "SMGUARD_TOPIC_PARTITIONS": "2",
        "SMGUARD_JWT_SECRET": TEST_SECRET,
        "SMGUARD_DATA_DIR": str(tmp_path),
    }
    smguard = Path(sys.executable).with_name("smguard")
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen([str(smguard), "serve", "incident", "--port", str(port)], env=env, stdout=log, stderr=log)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:

            async def ready() -> bool:
                try:
                    return (await client.get("/readyz")).status_code == 200
                except httpx.TransportError:
                    return False

            await eventually(ready, timeout=60, interval=0.2, what="the service is ready")
            headers = bearer(settings, "operator", operator_id)
            created = await client.post("/incidents", json=incident_body(), headers=headers)
            assert created.status_code == 201
            detail = await client.get(f"/incidents/{created.json()['id']}", headers=headers)
            assert detail.json()["title"] == "無線端末の紛失"
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
