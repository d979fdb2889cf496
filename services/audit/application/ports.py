"""What the audit application needs from outside, named as ports (adapters implement them)."""

from __future__ import annotations

import abc
from typing import Any

Checkpoint = dict[str, Any]


class CheckpointStore(abc.ABC):
    """Signed checkpoints by sequence number: statements made at a time, kept across rebuilds of the log."""

    @abc.abstractmethod
    def next_seq(self) -> int:
        """The number the next checkpoint gets (1 for the first)."""

    @abc.abstractmethod
    def add(self, checkpoint: Checkpoint) -> None:
        """Keep a signed checkpoint exactly as signed."""

    @abc.abstractmethod
    def all(self, *, limit: int = 1000, after: int = 0) -> list[Checkpoint]:
        """Checkpoints numbered after ``after``, in order, at most ``limit``."""

    @abc.abstractmethod
    def get(self, seq: int) -> Checkpoint | None:
        """One checkpoint by number."""

    @abc.abstractmethod
    def latest(self) -> Checkpoint | None:
        """The newest checkpoint."""
