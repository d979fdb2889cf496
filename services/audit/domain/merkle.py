"""The audit log's shape: one RFC 6962 Merkle tree per Kafka partition ("log"), no I/O.

Why per partition: Kafka orders records only within a partition, so the only order that the
stream itself defines — and that any rebuild reproduces byte for byte — is the offset order of
each partition. Interleaving partitions into one tree would make the root depend on when records
happened to arrive. A checkpoint therefore signs every log's head and a combined root over the
heads in sorted log name order (see ``services.audit.domain.verifier``). A log is named by
``shared.topics.position_key``: ``"<topic base>/<partition>"``, e.g. ``smguard.incident.events/0``.

How a tree is kept: as its *complete subtree nodes* only. Node ``(level, index)`` is the root of
the perfect subtree over leaves ``index * 2**level`` .. ``(index + 1) * 2**level - 1`` (level 0:
the leaf hashes). A node never changes once complete, so a store can keep them append-only; each
append completes one leaf and on average one more node. The tree's right edge (the "frontier":
the roots of its at most log2(n) maximal complete subtrees) is all that is held in memory. Every
root at an earlier size and every proof follows RFC 6962 §2.1 (MTH, PATH, PROOF/SUBPROOF): each
range those recursions name starts at a multiple of its own size rounded up to a power of two, so
it is the fold of at most log2(n) complete subtree nodes — O(log² n) node look-ups per proof.
Hashing, rules and proof objects are exactly those of ``pymerkle.InmemoryTree()`` (SHA-256,
"security" on: leaf ``0x00 || data``, node ``0x01 || left || right``), so proofs serialize the
same and pymerkle's verifiers accept them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Iterator, Mapping

from pymerkle import ConsistencyProof, InclusionProof, InvalidChallenge

from services.audit.domain.verifier import combined_root, leaf_hash

ALGORITHM = "sha256"  # pymerkle InmemoryTree() default
SECURITY = True  # pymerkle default: RFC 6962 prefixes 0x00 (leaf), 0x01 (node)
EMPTY_ROOT = hashlib.sha256(b"").digest()  # pymerkle's (and RFC 6962's) hash of the empty tree
DIGEST = 32  # bytes of a SHA-256 hash
NODE_CACHE = 4096  # stored nodes kept in memory per MerkleLogs (they never change): about 1 MB

NodeSource = Callable[[int, int], bytes]
"""One log's complete subtree node by ``(level, index)``; raises ``KeyError`` when it is not there."""
LogNodeSource = Callable[[str, int, int], bytes]
"""The same for every log: ``(log, level, index)``."""
Node = tuple[int, int, bytes]
"""A complete subtree node: ``(level, index, hash)``."""


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node hash: SHA-256 of ``0x01 || left || right``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(width: int) -> int:
    """Leaves under the left child of a range of ``width`` > 1: the largest power of two below it."""
    return 1 << ((width - 1).bit_length() - 1)


def subtrees(start: int, end: int) -> Iterator[tuple[int, int]]:
    """The complete subtrees ``(level, index)`` that make up leaves ``start``..``end - 1``, left to right.

    ``start`` must be a multiple of the largest of them, as every range of the RFC 6962 recursions is.
    """
    while start < end:
        level = (end - start).bit_length() - 1
        if start & ((1 << level) - 1):
            raise ValueError(f"leaves {start}..{end - 1} are not a range of the tree")
        yield level, start >> level
        start += 1 << level


def fold(hashes: list[bytes]) -> bytes:
    """The root over complete subtree roots given left to right (MTH of their concatenation)."""
    if not hashes:
        return EMPTY_ROOT
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def range_root(get_node: NodeSource, start: int, end: int) -> bytes:
    """MTH of leaves ``start``..``end - 1`` (an aligned range), from its complete subtree nodes."""
    return fold([get_node(level, index) for level, index in subtrees(start, end)])


def tree_root(get_node: NodeSource, size: int) -> bytes:
    """MTH of the first ``size`` leaves."""
    return range_root(get_node, 0, size)


def inclusion_path(get_node: NodeSource, index: int, size: int) -> tuple[list[int], list[bytes]]:
    """RFC 6962 PATH(index, D[0:size]) in pymerkle's form: ``(rule, [leaf hash, siblings bottom-up])``.

    ``rule[i]`` is 1 when the hash folded so far is the right child at step ``i`` (the last bit,
    the root's, is not used by the fold). ``index`` counts from 0.
    """
    start, end, bit = 0, size, 0
    steps: list[tuple[int, int, int]] = []  # top-down: (bit of the range we descend from, sibling range)
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            steps.append((bit, start + k, end))
            end, bit = start + k, 0
        else:
            steps.append((bit, start, start + k))
            start, bit = start + k, 1
    steps.reverse()
    rule = [bit] + [b for b, _, _ in steps]
    return rule, [get_node(0, index)] + [range_root(get_node, s, e) for _, s, e in steps]


def consistency_path(get_node: NodeSource, prior: int, later: int) -> tuple[list[int], list[int], list[bytes]]:
    """RFC 6962 PROOF(prior, D[0:later]) in pymerkle's form: ``(rule, subset, path)``.

    As pymerkle does, the path starts with the hash SUBPROOF bottoms out at (the prior tree's
    subtree when it is whole, ``subset`` 1, else the next leaf, ``subset`` 0); ``subset`` marks the
    hashes that fold to the prior root.
    """
    start, m, n, bit = 0, prior, later, 0
    steps: list[tuple[int, int, int, int]] = []  # top-down: (bit, in the prior tree?, sibling range)
    while not (m == n or (m == 0 and n == 1)):
        k = _split(n)
        if m < k:
            steps.append((bit, 0, start + k, start + n))
            n, bit = k, 0
        else:
            steps.append((bit, 1, start, start + k))
            start, m, n, bit = start + k, m - k, n - k, 1
    mask, base = (1, (start, start + n)) if m == n else (0, (start, start + 1))
    steps.reverse()
    rule = [bit] + [b for b, _, _, _ in steps]
    subset = [mask] + [s for _, s, _, _ in steps]
    path = [range_root(get_node, *base)] + [range_root(get_node, s, e) for _, _, s, e in steps]
    return rule, subset, path


def inclusion_proof(get_node: NodeSource, index: int, size: int) -> InclusionProof:
    """The pymerkle proof of leaf ``index`` (from 0) in the first ``size`` leaves."""
    rule, path = inclusion_path(get_node, index, size)
    return InclusionProof(ALGORITHM, SECURITY, size, index + 1, rule, path)


def consistency_proof(get_node: NodeSource, prior: int, later: int) -> ConsistencyProof:
    """The pymerkle proof that the first ``later`` leaves extend the first ``prior``."""
    rule, subset, path = consistency_path(get_node, prior, later)
    return ConsistencyProof(ALGORITHM, SECURITY, later, prior, rule, subset, path)


class Frontier:
    """A tree's right edge: its size and the roots of its maximal complete subtrees, largest first."""

    __slots__ = ("size", "hashes")

    def __init__(self, size: int = 0, hashes: list[bytes] | None = None) -> None:
        self.size = size
        self.hashes = hashes if hashes is not None else []

    @classmethod
    def load(cls, get_node: NodeSource, size: int) -> Frontier:
        """The frontier of a stored tree of ``size`` leaves (log2(size) look-ups)."""
        return cls(size, [get_node(level, index) for level, index in subtrees(0, size)])

    def append(self, leaf: bytes) -> list[Node]:
        """Add a leaf hash; returns the nodes it completes: the leaf itself, then its new ancestors."""
        index, level, digest = self.size, 0, leaf
        completed = [(0, index, leaf)]
        while (self.size >> level) & 1:  # a complete subtree of this height waits on the left: merge
            digest = node_hash(self.hashes.pop(), digest)
            level, index = level + 1, index >> 1
            completed.append((level, index, digest))
        self.hashes.append(digest)
        self.size += 1
        return completed

    def root(self) -> bytes:
        """The tree's current root."""
        return fold(self.hashes)


@dataclass(frozen=True, slots=True)
class Head:
    """A log's tree head: how many leaves, and their root (hex)."""

    size: int
    root: str

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"size": self.size, "root": self.root}


class MerkleLogs:
    """The per-partition trees, appended in offset order (RFC 6962 hashing, pymerkle proofs).

    Without ``nodes`` every node is kept here, 32 bytes a node (a scratch recomputation). With
    ``nodes`` (the store's look-up, ``sizes`` the stored logs' sizes) only each log's frontier, a
    bounded cache and the nodes appended since the last ``take_new_nodes()`` are held; the caller
    writes those with the entries they belong to, in one transaction, and drops this object if
    that fails.
    """

    def __init__(self, nodes: LogNodeSource | None = None, sizes: Mapping[str, int] | None = None) -> None:
        self._kept: dict[str, list[bytearray]] | None = None if nodes is not None else {}  # by log, by level
        self._stored = lru_cache(maxsize=NODE_CACHE)(nodes) if nodes is not None else None
        self._new: dict[tuple[str, int, int], bytes] = {}
        self._frontiers: dict[str, Frontier] = {}
        for log, size in (sizes or {}).items():
            if size:
                self._frontiers[log] = Frontier.load(self._source(log), size)

    @classmethod
    def of_frontiers(cls, frontiers: Mapping[str, Frontier]) -> MerkleLogs:
        """Logs known by their frontiers only (a recomputation's result): their heads now, not earlier ones or proofs."""
        logs = cls()
        logs._frontiers = {log: frontier for log, frontier in frontiers.items() if frontier.size}
        return logs

    def _node(self, log: str, level: int, index: int) -> bytes:
        if self._kept is not None:
            levels = self._kept.get(log, [])
            packed = levels[level] if level < len(levels) else b""
            if (index + 1) * DIGEST > len(packed):
                raise KeyError((log, level, index))
            return bytes(packed[index * DIGEST:(index + 1) * DIGEST])
        found = self._new.get((log, level, index))
        if found is not None:
            return found
        assert self._stored is not None
        return self._stored(log, level, index)

    def _source(self, log: str) -> NodeSource:
        return lambda level, index: self._node(log, level, index)

    def append(self, log: str, data: bytes) -> tuple[int, bytes, bytes]:
        """Append one leaf; returns its 0-based index, its leaf hash and the root after it."""
        frontier = self._frontiers.setdefault(log, Frontier())
        leaf = leaf_hash(data)
        index = frontier.size
        completed = frontier.append(leaf)
        if self._kept is None:
            self._new.update(((log, level, i), digest) for level, i, digest in completed)
        else:  # a level's nodes complete in index order: each is appended to its level's packed array
            levels = self._kept.setdefault(log, [])
            for level, _, digest in completed:
                if level == len(levels):
                    levels.append(bytearray())
                levels[level] += digest
        return index, leaf, frontier.root()

    def take_new_nodes(self) -> list[tuple[str, int, int, bytes]]:
        """The nodes completed since the last call, ``(log, level, index, hash)``, for the store; forgets them."""
        taken = [(log, level, index, digest) for (log, level, index), digest in self._new.items()]
        self._new = {}
        return taken

    def size(self, log: str) -> int:
        """Leaves in a log (0 when unknown)."""
        frontier = self._frontiers.get(log)
        return frontier.size if frontier else 0

    def head(self, log: str, size: int | None = None) -> Head:
        """A log's head now, or at an earlier size."""
        frontier = self._frontiers.get(log) or Frontier()
        if size is None or size == frontier.size:
            return Head(frontier.size, frontier.root().hex())
        if not 0 <= size <= frontier.size:
            raise ValueError("Provided size is out of bounds")
        return Head(size, tree_root(self._source(log), size).hex())

    def heads(self) -> dict[str, Head]:
        """Every log's current head, by log name."""
        return {log: self.head(log) for log in sorted(self._frontiers)}

    def total_size(self) -> int:
        """Leaves over all logs."""
        return sum(frontier.size for frontier in self._frontiers.values())

    def root(self) -> str:
        """The combined root over every log's head."""
        return combined_root({log: h.as_dict() for log, h in self.heads().items()})

    def prove_inclusion(self, log: str, index: int, size: int) -> InclusionProof:
        """Inclusion of the leaf at 0-based ``index`` in the log's first ``size`` leaves."""
        if not 0 < size <= self._frontiers[log].size:
            raise InvalidChallenge("Provided size is out of bounds")
        if not 0 <= index < size:
            raise InvalidChallenge("Provided index is out of bounds")
        return inclusion_proof(self._source(log), index, size)

    def prove_consistency(self, log: str, prior_size: int, later_size: int) -> ConsistencyProof:
        """The log at ``later_size`` extends itself at ``prior_size``."""
        if not 0 < later_size <= self._frontiers[log].size:
            raise InvalidChallenge("Provided later size out of bounds")
        if not 0 < prior_size <= later_size:
            raise InvalidChallenge("Provided prior size out of bounds")
        return consistency_proof(self._source(log), prior_size, later_size)
