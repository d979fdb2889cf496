"""Topic creation: every topic exists, with the configured layout, before anyone consumes it."""

from __future__ import annotations

import asyncio
import logging
from typing import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError, TopicAuthorizationFailedError

from shared.config import Settings
from shared.kafka import clients
from shared.topics import ALL_TOPICS, COMMAND_TOPICS, STATE_TOPICS

log = logging.getLogger(__name__)


class TopicsMissing(RuntimeError):
    """Topics a service needs do not exist and its principal may not create them."""


async def ensure_topics(settings: Settings, bases: Iterable[str] = ALL_TOPICS, *, timeout: float = 60.0) -> list[str]:
    """Create the topics that are missing (retention forever); return their full names."""
    names = [settings.topic(base) for base in bases]
    admin = clients.admin(settings, request_timeout_ms=15000)
    await _start_with_retry(admin, timeout)
    try:
        existing = set(await admin.list_topics())
        missing = [name for name in names if name not in existing]
        if missing:
            by_name = {settings.topic(base): base for base in bases}
            new = [
                NewTopic(name, settings.topic_partitions, settings.topic_replication_factor,
                         topic_configs=topic_config(settings, by_name[name]))
                for name in missing
            ]  # fmt: skip
            try:
                response = await admin.create_topics(new)
            except TopicAlreadyExistsError:
                response = None  # another service created them in the meantime
            refused = [t[0] for t in getattr(response, "topic_errors", []) if t[1] == TopicAuthorizationFailedError.errno]
            if refused:
                raise TopicsMissing(
                    f"topics {', '.join(refused)} do not exist and this principal may not create them: run "
                    "`smguard kafka-user setup` as the broker's super-user first (smguard run does)"
                )
            await _wait_for_metadata(admin, missing, timeout)
            log.info("created topics", extra={"topics": missing})
    finally:
        await admin.close()
    return names


def topic_config(settings: Settings, base: str) -> dict[str, str]:
    """Event topics keep everything forever; changelogs keep the latest record per key; inboxes a window."""
    config = {"min.insync.replicas": str(settings.topic_min_insync_replicas)}
    if base in STATE_TOPICS:
        # Compaction only cleans closed segments: roll them often enough that a changelog stays about
        # the size of the state it holds, not of its history.
        return config | {"cleanup.policy": "compact", "segment.ms": "600000", "min.cleanable.dirty.ratio": "0.1",
                         "delete.retention.ms": "86400000"}  # fmt: skip
    if base in COMMAND_TOPICS:
        return config | {"retention.ms": str(int(settings.key_window_days * 86_400_000)), "retention.bytes": "-1"}
    return config | {"retention.ms": "-1", "retention.bytes": "-1"}


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
