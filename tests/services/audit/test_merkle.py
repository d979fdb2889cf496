"""RFC 6962 hashing and proofs, checked against Certificate Transparency test vectors."""

from __future__ import annotations

import hashlib

import pytest
from pymerkle import InmemoryTree

from services.audit.domain.merkle import MerkleLogs
from services.audit.domain.verifier import leaf_hash

# The leaves and roots of the RFC 6962 reference tests (certificate-transparency merkle_tree_test).
LEAVES = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# Inclusion paths of the same reference tests: (leaf index from 0, tree size, audit path).
INCLUSION = [
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]


def reference_tree() -> InmemoryTree:
    tree = InmemoryTree()
    for leaf in LEAVES:
        tree.append_entry(bytes.fromhex(leaf))
    return tree


class TestHashing:
    def test_the_empty_tree_hashes_to_sha256_of_nothing(self):
        assert InmemoryTree().get_root().hex() == hashlib.sha256(b"").hexdigest()

    def test_a_leaf_is_sha256_of_a_zero_byte_and_the_data(self):
        assert leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
        assert leaf_hash(b"") .hex() == ROOTS[0]

    def test_a_node_is_sha256_of_a_one_byte_and_both_children(self):
        left, right = leaf_hash(b""), leaf_hash(b"\x00")
        assert hashlib.sha256(b"\x01" + left + right).hexdigest() == ROOTS[1]

    @pytest.mark.parametrize("size", range(1, 9))
    def test_every_prefix_of_the_reference_tree_has_the_reference_root(self, size):
        assert reference_tree().get_root(size).hex() == ROOTS[size - 1]


class TestProofs:
    @pytest.mark.parametrize(("index", "size", "path"), INCLUSION)
    def test_inclusion_paths_are_the_reference_audit_paths(self, index, size, path):
        proof = reference_tree().prove_inclusion(index + 1, size)
        assert [d.hex() for d in proof.path[1:]] == path
        assert proof.path[0] == leaf_hash(bytes.fromhex(LEAVES[index]))

    @pytest.mark.parametrize(("prior", "later"), [(1, 8), (3, 8), (4, 8), (6, 8), (2, 5), (7, 8)])
    def test_consistency_proofs_resolve_to_both_reference_roots(self, prior, later):
        proof = reference_tree().prove_consistency(prior, later)
        proof.verify(bytes.fromhex(ROOTS[prior - 1]), bytes.fromhex(ROOTS[later - 1]), prior_size=prior, later_size=later)

    def test_logs_of_two_partitions_do_not_depend_on_how_appends_interleave(self):
        a, b = MerkleLogs(), MerkleLogs()
        for i in range(5):
            a.append("t/0", b"x%d" % i)
            a.append("t/1", b"y%d" % i)
        for i in range(5):
            b.append("t/1", b"y%d" % i)
        for i in range(5):
            b.append("t/0", b"x%d" % i)
        assert a.root() == b.root()
        assert a.heads() == b.heads()
