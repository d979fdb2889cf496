"""The node-based trees against pymerkle's InmemoryTree: same roots, same proofs, byte for byte (no I/O)."""

from __future__ import annotations

import random

import pytest
from pymerkle import ConsistencyProof, InclusionProof, InmemoryTree, InvalidChallenge

from services.audit.domain.merkle import EMPTY_ROOT, Frontier, MerkleLogs, subtrees
from services.audit.domain.verifier import leaf_hash

LOG = "t/0"
SMALL = 300  # every size up to this one
ALL_PAIRS = 80  # every (index, size) and (prior, later) pair up to this size; sampled above it


def data(i: int) -> bytes:
    return b"entry-%d" % i


@pytest.fixture(scope="module")
def reference() -> InmemoryTree:
    tree = InmemoryTree()
    for i in range(SMALL):
        tree.append_entry(data(i))
    return tree


def stored_logs(n: int) -> tuple[MerkleLogs, dict[tuple[str, int, int], bytes]]:
    """A tree whose nodes went to a "store" (a dict) as they completed, and the store."""
    table: dict[tuple[str, int, int], bytes] = {}
    logs = MerkleLogs(lambda log, level, index: table[(log, level, index)], {})
    for i in range(n):
        logs.append(LOG, data(i))
        if i % 7 == 0:  # written in batches, as the store does
            table.update({(log, level, index): h for log, level, index, h in logs.take_new_nodes()})
    table.update({(log, level, index): h for log, level, index, h in logs.take_new_nodes()})
    return logs, table


@pytest.fixture(scope="module")
def built() -> MerkleLogs:
    logs, table = stored_logs(SMALL)
    # reopened from the stored nodes alone: nothing appended in this instance
    return MerkleLogs(lambda log, level, index: table[(log, level, index)], {LOG: SMALL})


def check_inclusion(logs: MerkleLogs, tree: InmemoryTree, index: int, size: int) -> None:
    proof = logs.prove_inclusion(LOG, index, size)
    assert proof.serialize() == tree.prove_inclusion(index + 1, size).serialize()
    parsed = InclusionProof.deserialize(proof.serialize())
    parsed.verify(leaf_hash(data(index)), tree.get_root(size), index=index + 1, size=size, algorithm="sha256")


def check_consistency(logs: MerkleLogs, tree: InmemoryTree, prior: int, later: int) -> None:
    proof = logs.prove_consistency(LOG, prior, later)
    assert proof.serialize() == tree.prove_consistency(prior, later).serialize()
    parsed = ConsistencyProof.deserialize(proof.serialize())
    parsed.verify(tree.get_root(prior), tree.get_root(later), prior_size=prior, later_size=later, algorithm="sha256")


class TestAppend:
    def test_each_append_returns_pymerkles_index_leaf_and_root(self, reference):
        logs = MerkleLogs()
        for i in range(SMALL):
            assert logs.append(LOG, data(i)) == (i, reference.get_leaf(i + 1), reference.get_root(i + 1))

    def test_each_append_completes_the_leaf_and_amortised_one_more_node(self):
        frontier, written = Frontier(), 0
        for i in range(1024):
            nodes = frontier.append(leaf_hash(data(i)))
            assert nodes[0] == (0, i, leaf_hash(data(i)))
            written += len(nodes)
            assert len(frontier.hashes) == bin(i + 1).count("1")  # one subtree root per bit of the size
        assert written == 2 * 1024 - 1  # every node of a perfect tree, each once

    def test_kept_in_memory_the_trees_prove_as_pymerkle_does(self, reference):
        logs = MerkleLogs()
        for i in range(SMALL):
            logs.append(LOG, data(i))
        for size in range(1, SMALL + 1, 7):
            assert logs.head(LOG, size).root == reference.get_root(size).hex()
            check_inclusion(logs, reference, size // 2, size)
            check_consistency(logs, reference, size // 3 or 1, size)

    def test_an_unknown_log_has_the_empty_head(self):
        assert MerkleLogs().head("nothing").as_dict() == {"size": 0, "root": EMPTY_ROOT.hex()}

    def test_new_nodes_are_handed_over_once(self):
        logs = MerkleLogs(lambda log, level, index: b"", {})
        logs.append(LOG, data(0))
        logs.append(LOG, data(1))
        assert sorted(n[:3] for n in logs.take_new_nodes()) == [(LOG, 0, 0), (LOG, 0, 1), (LOG, 1, 0)]
        assert logs.take_new_nodes() == []


class TestAgainstPymerkle:
    def test_the_root_at_every_earlier_size(self, built, reference):
        for size in range(SMALL + 1):
            assert built.head(LOG, size).root == reference.get_root(size).hex()
        assert built.head(LOG).as_dict() == {"size": SMALL, "root": reference.get_root().hex()}

    def test_every_inclusion_proof_of_the_small_trees(self, built, reference):
        for size in range(1, ALL_PAIRS + 1):
            for index in range(size):
                check_inclusion(built, reference, index, size)

    def test_every_consistency_proof_of_the_small_trees(self, built, reference):
        for later in range(1, ALL_PAIRS + 1):
            for prior in range(1, later + 1):
                check_consistency(built, reference, prior, later)

    def test_inclusion_and_consistency_at_every_size_up_to_300(self, built, reference):
        rng = random.Random(6962)
        for size in range(ALL_PAIRS + 1, SMALL + 1):
            for index in {0, size - 1, size // 2, *rng.sample(range(size), 4)}:
                check_inclusion(built, reference, index, size)
            for prior in {1, size, size - 1, size // 2, *rng.sample(range(1, size + 1), 4)}:
                check_consistency(built, reference, prior, size)

    @pytest.mark.parametrize("n", [511, 512, 513, 1000, 4097, *random.Random(9162).sample(range(1000, 20_000), 3)])
    def test_random_larger_trees(self, n):
        tree = InmemoryTree()
        for i in range(n):
            tree.append_entry(data(i))
        logs, table = stored_logs(n)
        reopened = MerkleLogs(lambda log, level, index: table[(log, level, index)], {LOG: n})
        assert reopened.head(LOG) == logs.head(LOG)
        rng = random.Random(n)
        for _ in range(40):
            size = rng.randint(1, n)
            assert reopened.head(LOG, size).root == tree.get_root(size).hex()
            check_inclusion(reopened, tree, rng.randrange(size), size)
            check_consistency(reopened, tree, rng.randint(1, size), size)

    def test_out_of_range_requests_are_refused_as_pymerkle_refuses_them(self, built):
        with pytest.raises(InvalidChallenge):
            built.prove_inclusion(LOG, SMALL, SMALL)
        with pytest.raises(InvalidChallenge):
            built.prove_inclusion(LOG, 0, SMALL + 1)
        with pytest.raises(InvalidChallenge):
            built.prove_consistency(LOG, 0, SMALL)
        with pytest.raises(InvalidChallenge):
            built.prove_consistency(LOG, 5, 4)
        with pytest.raises(ValueError):
            built.head(LOG, SMALL + 1)


class TestReads:
    def test_a_root_reads_one_node_per_bit_of_the_size(self):
        logs, table = stored_logs(1000)
        reads: list[tuple[str, int, int]] = []

        def node(log: str, level: int, index: int) -> bytes:
            reads.append((log, level, index))
            return table[(log, level, index)]

        reopened = MerkleLogs(node, {LOG: 1000})
        assert sorted(reads) == sorted((LOG, level, index) for level, index in subtrees(0, 1000))  # the frontier only
        reads.clear()
        reopened.head(LOG, 511)  # none of its subtrees is on the frontier (nor cached)
        assert len(reads) == bin(511).count("1")

    def test_a_proof_reads_at_most_log2_squared_nodes(self):
        n = 5000
        logs, table = stored_logs(n)
        reads: list[tuple[int, int]] = []

        def node(log: str, level: int, index: int) -> bytes:
            reads.append((level, index))
            return table[(log, level, index)]

        reopened = MerkleLogs(node, {LOG: n})
        for index, size, prior in [(0, n, 1), (n - 1, n, n - 1), (1234, 4321, 2345), (4095, 4097, 4096)]:
            reads.clear()
            reopened.prove_inclusion(LOG, index, size)
            reopened.prove_consistency(LOG, prior, size)
            assert len(reads) <= 2 * size.bit_length() ** 2

    def test_a_range_that_is_not_one_of_the_tree_is_refused(self):
        with pytest.raises(ValueError):
            list(subtrees(2, 6))
