"""In-memory fakes of the audit service's ports, for handler tests (no files)."""

from __future__ import annotations

import copy

from services.audit.application.ports import Checkpoint, CheckpointStore


class MemoryCheckpointStore(CheckpointStore):
    """Checkpoints in a dict; each kept and given back as a copy, as a store of JSON would."""

    def __init__(self) -> None:
        self.kept: dict[int, Checkpoint] = {}

    def next_seq(self) -> int:
        """One past the highest number kept."""
        return max(self.kept, default=0) + 1

    def add(self, checkpoint: Checkpoint) -> None:
        """Keep a copy."""
        self.kept[int(checkpoint["seq"])] = copy.deepcopy(checkpoint)

    def all(self, *, limit: int = 1000, after: int = 0) -> list[Checkpoint]:
        """Copies in order."""
        return [copy.deepcopy(self.kept[seq]) for seq in sorted(self.kept) if seq > after][:limit]

    def get(self, seq: int) -> Checkpoint | None:
        """A copy of one checkpoint."""
        return copy.deepcopy(self.kept.get(seq))

    def latest(self) -> Checkpoint | None:
        """A copy of the newest."""
        return self.get(max(self.kept)) if self.kept else None
