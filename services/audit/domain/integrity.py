"""Recomputing the audit log from its stored entries and naming the first entry that fails; no I/O.

One pass in log order holding only each log's frontier: every leaf is hashed once, each completed
node once, and the root after each entry is folded from the frontier — ``popcount(size) - 1``
hashes, the least that checks every recorded root. The roots that checkpoints signed are noted as
the pass reaches their sizes, so no node is kept for later.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from itertools import groupby
from operator import itemgetter
from typing import Any, Callable, Iterable, NamedTuple

from services.audit.domain.merkle import Frontier, Head, MerkleLogs

Tally = Callable[[int], None]
"""Told the number of entries recomputed so far, every ``TALLY_EVERY`` entries and at the end."""
TALLY_EVERY = 20_000
_LEAF, _NODE = b"\x00", b"\x01"  # RFC 6962 prefixes, as in ``verifier.leaf_hash`` and ``merkle.node_hash``


class StoredEntry(NamedTuple):
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
    """What a recomputation found: the logs rebuilt (their current heads), and one problem per failing log."""

    logs: MerkleLogs
    problems: list[Problem] = field(default_factory=list)


SignedHeads = list[tuple[int, dict[str, Head]]]


def recompute(entries: Iterable[StoredEntry], checkpoints: SignedHeads, *, tally: Tally | None = None) -> Report:
    """Rebuild every log from ``entries`` (sorted by log, index) and check it against signed heads."""
    frontiers: dict[str, Frontier] = {}
    signed = _signed_sizes(checkpoints)
    problems: list[Problem] = []
    counter = _Counter(tally)
    for log, rows in groupby(entries, key=itemgetter(0)):
        frontier = frontiers.setdefault(log, Frontier())
        roots: dict[int, bytes] = {}
        problem = _rebuild_log(frontier, log, rows, wanted=signed.get(log, set()), roots=roots, counter=counter)
        problem = problem or _against_checkpoints(log, frontier.size, roots, checkpoints)
        if problem:
            problems.append(problem)
    for log in sorted(set(signed) - set(frontiers)):
        problem = _against_checkpoints(log, 0, {}, checkpoints)
        if problem:
            problems.append(problem)
    counter.finish()
    problems.sort(key=lambda p: (p.log, p.index))
    return Report(MerkleLogs.of_frontiers(frontiers), problems)


class _Counter:
    """Counts entries for the tally without a call per entry."""

    def __init__(self, tally: Tally | None) -> None:
        self.tally, self.done = tally, 0

    def add(self, count: int) -> None:
        self.done += count
        if self.tally is not None:
            self.tally(self.done)

    def finish(self) -> None:
        if self.tally is not None:
            self.tally(self.done)


def _rebuild_log(
    frontier: Frontier, log: str, rows: Iterable[StoredEntry], *, wanted: set[int], roots: dict[int, bytes], counter: _Counter
) -> Problem | None:
    """Append every row's leaf to ``frontier``; the first row that fails, if any. ``roots``: the roots at ``wanted`` sizes."""
    sha256, hashes = hashlib.sha256, frontier.hashes
    prefixed = [_NODE + h for h in hashes]  # the frontier as the left halves of node inputs: one concatenation per fold
    size, previous, problem, pending = frontier.size, -1, None, 0
    for _, index, offset, value, stored_leaf, stored_root in rows:
        leaf = sha256(_LEAF + value).digest()
        digest, carry = leaf, size
        while carry & 1:  # a complete subtree of this height waits on the left: merge
            prefixed.pop()
            digest = sha256(_NODE + hashes.pop() + digest).digest()
            carry >>= 1
        hashes.append(digest)
        prefixed.append(_NODE + digest)
        if problem is None:
            if index != size or offset <= previous or leaf != stored_leaf:
                problem = _entry_problem(log, index, offset, expected=size, previous=previous)
            else:
                root, left = digest, len(prefixed) - 1
                while left:
                    left -= 1
                    root = sha256(prefixed[left] + root).digest()
                if root != stored_root:
                    problem = Problem(log, index, "does not match the tree head recorded when it was appended", offset)
                elif size + 1 in wanted:
                    roots[size + 1] = root
        size, previous, pending = size + 1, offset, pending + 1
        if pending == TALLY_EVERY:
            counter.add(pending)
            pending = 0
    frontier.size = size
    counter.add(pending)
    return problem


def _entry_problem(log: str, index: int, offset: int, *, expected: int, previous: int) -> Problem:
    if index != expected:
        return Problem(log, expected, f"entry missing (removed): the next stored entry is #{index}")
    if offset <= previous:
        return Problem(log, index, "out of order (reordered): offset goes back", offset)
    return Problem(log, index, "bytes changed: leaf hash differs", offset)


def _signed_sizes(checkpoints: SignedHeads) -> dict[str, set[int]]:
    """Per log, the sizes some checkpoint signed a head at (the roots the pass must note)."""
    sizes: dict[str, set[int]] = {}
    for _, heads in checkpoints:
        for log, head in heads.items():
            if head.size > 0:
                sizes.setdefault(log, set()).add(head.size)
    return sizes


def _against_checkpoints(log: str, size: int, roots: dict[int, bytes], checkpoints: SignedHeads) -> Problem | None:
    """The log must reproduce every signed head; a failure points after the last head that held."""
    good_size = 0
    for seq, heads in sorted(checkpoints, key=lambda c: c[0]):
        head = heads.get(log)
        if head is None or head.size == 0:
            continue
        if head.size > size:
            return Problem(log, size, f"entry missing: checkpoint #{seq} signed {head.size} entries")
        if roots[head.size].hex() != head.root:
            return Problem(log, good_size, f"log does not reproduce the root signed in checkpoint #{seq}")
        good_size = max(good_size, head.size)
    return None
