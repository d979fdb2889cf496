"""Topic creation: every topic exists, with the configured layout, before anyone consumes it."""

from __future__ import annotations

import asyncio
import logging
from typing import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError

from shared.config import Settings
from shared.topics import ALL_TOPICS

log = logging.getLogger(__name__)


async def ensure_topics(settings: Settings, bases: Iterable[str] = ALL_TOPICS, *, timeout: float = 60.0) -> list[str]:
    """Create the topics that are missing (retention forever); return their full names."""
    names = [settings.topic(base) for base in bases]
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers, request_timeout_ms=15000)
    await _start_with_retry(admin, timeout)
    try:
        existing = set(await admin.list_topics())
        missing = [name for name in names if name not in existing]
        if missing:
            config = {
                "retention.ms": "-1",
                "retention.bytes": "-1",
                "min.insync.replicas": str(settings.topic_min_insync_replicas),
            }
            new = [
                NewTopic(name, settings.topic_partitions, settings.topic_replication_factor, topic_configs=config)
                for name in missing
            ]
            try:
                await admin.create_topics(new)
            except TopicAlreadyExistsError:
                pass  # another service created them in the meantime
            await _wait_for_metadata(admin, missing, timeout)
            log.info("created topics", extra={"topics": missing})
    finally:
        await admin.close()
    return names


async def _start_with_retry(admin: AIOKafkaAdminClient, timeout: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            await admin.start()
            return
        except KafkaConnectionError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.5)


async def _wait_for_metadata(admin: AIOKafkaAdminClient, names: list[str], timeout: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        described = await admin.describe_topics(names)
        if all(_has_leaders(t) for t in described):
            return
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"topics not ready: {names}")
        await asyncio.sleep(0.2)


def _has_leaders(described: dict) -> bool:
    partitions = described.get("partitions") or []
    return described.get("error_code", 0) == 0 and bool(partitions) and all(p.get("leader", -1) >= 0 for p in partitions)
