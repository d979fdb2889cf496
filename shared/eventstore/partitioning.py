"""Which partition a key belongs to — the same answer as every Kafka client's default partitioner."""

from __future__ import annotations

import uuid
from functools import lru_cache

from aiokafka.partitioner import murmur2


@lru_cache(maxsize=65_536)  # bounded; the same ids (connections, incidents, keys) come again and again
def partition_of(key: str, partitions: int) -> int:
    """The partition of ``key`` among ``partitions`` (murmur2 of its UTF-8 bytes, as the Java client does)."""
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


def id_on(partition: int, partitions: int, *, prefix: str = "") -> str:
    """A fresh id (``prefix`` + a UUID) that falls on ``partition``: tries ids until one does (``partitions`` tries on average)."""
    while True:
        candidate = f"{prefix}{uuid.uuid4()}"
        if partition_of(candidate, partitions) == partition:
            return candidate
