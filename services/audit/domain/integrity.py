"""Recomputing the audit log from its stored entries and naming the first entry that fails; no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import groupby
from typing import Any, Iterable

from services.audit.domain.merkle import Head, MerkleLogs
from services.audit.domain.verifier import leaf_hash


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """One entry as the store holds it: where it sits, its bytes, and the hashes recorded on append."""

    log: str
    index: int
    offset: int
    value: bytes
    leaf_hash: bytes
    root_after: bytes


@dataclass(frozen=True, slots=True)
class Problem:
    """The first failing entry of one log, and why."""

    log: str
    index: int
    reason: str
    offset: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON form; ``entry`` is the log name and the 0-based leaf index."""
        return {"entry": f"{self.log}#{self.index}", "log": self.log, "index": self.index,
                "offset": self.offset, "reason": self.reason}


@dataclass
class Report:
    """What a recomputation found: the logs rebuilt, and one problem per failing log."""

    logs: MerkleLogs
    problems: list[Problem] = field(default_factory=list)


def recompute(entries: Iterable[StoredEntry], checkpoints: list[tuple[int, dict[str, Head]]]) -> Report:
    """Rebuild every log from ``entries`` (sorted by log, index) and check it against signed heads."""
    report = Report(MerkleLogs())
    for log, rows in groupby(entries, key=lambda e: e.log):
        problem = _rebuild_log(report.logs, log, rows)
        problem = problem or _against_checkpoints(report.logs, log, checkpoints)
        if problem:
            report.problems.append(problem)
    for log in sorted({log for _, heads in checkpoints for log in heads} - set(report.logs.heads())):
        problem = _against_checkpoints(report.logs, log, checkpoints)
        if problem:
            report.problems.append(problem)
    report.problems.sort(key=lambda p: (p.log, p.index))
    return report


def _rebuild_log(logs: MerkleLogs, log: str, rows: Iterable[StoredEntry]) -> Problem | None:
    problem: Problem | None = None
    previous_offset = -1
    for entry in rows:
        expected = logs.size(log)
        found = _entry_problem(entry, expected, previous_offset)
        _, _, root = logs.append(log, entry.value)
        if found is None and root != entry.root_after:
            found = Problem(log, entry.index, "does not match the tree head recorded when it was appended", entry.offset)
        problem = problem or found
        previous_offset = entry.offset
    return problem


def _entry_problem(entry: StoredEntry, expected: int, previous_offset: int) -> Problem | None:
    if entry.index != expected:
        return Problem(entry.log, expected, f"entry missing (removed): the next stored entry is #{entry.index}")
    if entry.offset <= previous_offset:
        return Problem(entry.log, entry.index, "out of order (reordered): offset goes back", entry.offset)
    if leaf_hash(entry.value) != entry.leaf_hash:
        return Problem(entry.log, entry.index, "bytes changed: leaf hash differs", entry.offset)
    return None


def _against_checkpoints(logs: MerkleLogs, log: str, checkpoints: list[tuple[int, dict[str, Head]]]) -> Problem | None:
    """The log must reproduce every signed head; a failure points after the last head that held."""
    good_size = 0
    for seq, heads in sorted(checkpoints, key=lambda c: c[0]):
        head = heads.get(log)
        if head is None or head.size == 0:
            continue
        if head.size > logs.size(log):
            return Problem(log, logs.size(log), f"entry missing: checkpoint #{seq} signed {head.size} entries")
        if logs.head(log, head.size).root != head.root:
            return Problem(log, good_size, f"log does not reproduce the root signed in checkpoint #{seq}")
        good_size = max(good_size, head.size)
    return None
