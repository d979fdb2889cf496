"""The audit log's shape: one RFC 6962 Merkle tree per Kafka partition ("log"), no I/O.

Why per partition: Kafka orders records only within a partition, so the only order that the
stream itself defines — and that any rebuild reproduces byte for byte — is the offset order of
each partition. Interleaving partitions into one tree would make the root depend on when records
happened to arrive. A checkpoint therefore signs every log's head and a combined root over the
heads in sorted log name order (see ``services.audit.domain.verifier``). A log is named by
``shared.topics.position_key``: ``"<topic base>/<partition>"``, e.g. ``smguard.incident.events/0``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pymerkle import ConsistencyProof, InclusionProof, InmemoryTree

from services.audit.domain.verifier import combined_root


@dataclass(frozen=True, slots=True)
class Head:
    """A log's tree head: how many leaves, and their root (hex)."""

    size: int
    root: str

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"size": self.size, "root": self.root}


class MerkleLogs:
    """The per-partition trees, appended in offset order (pymerkle InmemoryTree, RFC 6962 hashing)."""

    def __init__(self) -> None:
        self._trees: dict[str, InmemoryTree] = {}

    def append(self, log: str, data: bytes) -> tuple[int, bytes, bytes]:
        """Append one leaf; returns its 0-based index, its leaf hash and the root after it."""
        tree = self._trees.setdefault(log, InmemoryTree())
        index = tree.append_entry(data) - 1
        return index, tree.get_leaf(index + 1), tree.get_root()

    def size(self, log: str) -> int:
        """Leaves in a log (0 when unknown)."""
        tree = self._trees.get(log)
        return tree.get_size() if tree else 0

    def head(self, log: str, size: int | None = None) -> Head:
        """A log's head now, or at an earlier size."""
        tree = self._trees.get(log) or InmemoryTree()
        size = tree.get_size() if size is None else size
        return Head(size, tree.get_root(size).hex())

    def heads(self) -> dict[str, Head]:
        """Every log's current head, by log name."""
        return {log: self.head(log) for log in sorted(self._trees)}

    def total_size(self) -> int:
        """Leaves over all logs."""
        return sum(tree.get_size() for tree in self._trees.values())

    def root(self) -> str:
        """The combined root over every log's head."""
        return combined_root({log: h.as_dict() for log, h in self.heads().items()})

    def prove_inclusion(self, log: str, index: int, size: int) -> InclusionProof:
        """Inclusion of the leaf at 0-based ``index`` in the log's first ``size`` leaves."""
        return self._trees[log].prove_inclusion(index + 1, size)

    def prove_consistency(self, log: str, prior_size: int, later_size: int) -> ConsistencyProof:
        """The log at ``later_size`` extends itself at ``prior_size``."""
        return self._trees[log].prove_consistency(prior_size, later_size)
