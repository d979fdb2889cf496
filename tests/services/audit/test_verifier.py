"""Adversarial tests: tampered entries are named, forged proofs and foreign checkpoints are refused."""

from __future__ import annotations

import copy

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit.domain.checkpoints import public_key_b64, sign_checkpoint
from services.audit.domain.integrity import StoredEntry, recompute
from services.audit.domain.merkle import Head, MerkleLogs
from services.audit.domain.verifier import (
    VerificationError,
    verify_checkpoint,
    verify_consistency,
    verify_inclusion,
)
from tests.factories import FIXED_TIME

LOG = "smguard.incident.events/0"
KEY = Ed25519PrivateKey.generate()
PUBLIC = public_key_b64(KEY)


def sign(logs: MerkleLogs, key: Ed25519PrivateKey = KEY, seq: int = 1) -> dict:
    return sign_checkpoint(logs, key, seq=seq, at=FIXED_TIME)


def stored(n: int, log: str = LOG) -> tuple[list[StoredEntry], MerkleLogs]:
    logs = MerkleLogs()
    rows = []
    for i in range(n):
        value = f'{{"id":"e{i}","subject":"インシデント-{i}"}}'.encode()
        index, leaf, root = logs.append(log, value)
        rows.append(StoredEntry(log, index, i * 2, value, leaf, root))
    return rows, logs


def heads_of(checkpoint: dict) -> list[tuple[int, dict[str, Head]]]:
    return [(checkpoint["seq"], {k: Head(v["size"], v["root"]) for k, v in checkpoint["heads"].items()})]


class TestRecomputingStoredEntries:
    def test_an_untouched_log_verifies(self):
        rows, logs = stored(10)
        report = recompute(rows, heads_of(sign(logs, seq=1)))
        assert report.problems == []
        assert report.logs.root() == logs.root()

    def test_a_changed_byte_is_named(self):
        rows, _ = stored(10)
        rows[4] = rows[4]._replace(value=rows[4].value.replace(b"e4", b"e5"))
        problem = recompute(rows, []).problems[0]
        assert (problem.index, problem.reason) == (4, "bytes changed: leaf hash differs")

    def test_a_removed_entry_is_named(self):
        rows, _ = stored(10)
        del rows[6]
        problem = recompute(rows, []).problems[0]
        assert problem.index == 6 and "missing" in problem.reason

    def test_a_reordered_pair_is_named(self):
        rows, _ = stored(10)
        rows[3], rows[4] = rows[4]._replace(index=3), rows[3]._replace(index=4)
        problem = recompute(rows, []).problems[0]
        assert problem.index == 3

    def test_a_rewrite_with_fresh_hashes_is_caught_by_the_signed_checkpoint(self):
        rows, logs = stored(10)
        checkpoint = sign(logs, seq=1)
        forged_rows, _ = stored(10)
        forged_rows = [*forged_rows[:7]]
        forger = MerkleLogs()
        for row in forged_rows[:7]:
            forger.append(LOG, row.value)
        _, leaf, root = forger.append(LOG, b"forged")
        forged_rows.append(StoredEntry(LOG, 7, 14, b"forged", leaf, root))
        forged_rows += [r._replace(root_after=forger.append(LOG, r.value)[2]) for r in rows[8:]]
        problem = recompute(forged_rows, heads_of(checkpoint)).problems[0]
        assert problem.index == 0 and "checkpoint #1" in problem.reason

    def test_a_truncated_log_is_caught_by_the_signed_checkpoint(self):
        rows, logs = stored(10)
        problem = recompute(rows[:8], heads_of(sign(logs, seq=1))).problems[0]
        assert problem.index == 8 and "missing" in problem.reason


class TestInclusionProofs:
    def setup_method(self):
        self.rows, self.logs = stored(9)
        self.checkpoint = sign(self.logs, seq=1)
        self.proof = self.logs.prove_inclusion(LOG, 5, 9).serialize()

    def test_a_true_proof_holds_with_only_the_checkpoint(self):
        verify_inclusion(data=self.rows[5].value, log=LOG, proof=self.proof, checkpoint=self.checkpoint, public_key=PUBLIC)

    def test_a_forged_path_is_refused(self):
        forged = copy.deepcopy(self.proof)
        forged["path"][2] = "00" * 32
        with pytest.raises(VerificationError):
            verify_inclusion(data=self.rows[5].value, log=LOG, proof=forged, checkpoint=self.checkpoint, public_key=PUBLIC)

    def test_other_bytes_are_refused(self):
        with pytest.raises(VerificationError):
            verify_inclusion(data=self.rows[6].value, log=LOG, proof=self.proof, checkpoint=self.checkpoint, public_key=PUBLIC)

    def test_a_proof_claiming_another_size_is_refused(self):
        forged = self.logs.prove_inclusion(LOG, 5, 8).serialize()
        with pytest.raises(VerificationError):
            verify_inclusion(data=self.rows[5].value, log=LOG, proof=forged, checkpoint=self.checkpoint, public_key=PUBLIC)


class TestCheckpoints:
    def test_a_checkpoint_from_another_key_is_refused(self):
        _, logs = stored(3)
        foreign = sign(logs, Ed25519PrivateKey.generate())
        with pytest.raises(VerificationError, match="signature"):
            verify_checkpoint(foreign, PUBLIC)

    def test_a_checkpoint_with_an_edited_root_is_refused(self):
        _, logs = stored(3)
        checkpoint = sign(logs, seq=1)
        checkpoint["heads"][LOG]["root"] = "11" * 32
        with pytest.raises(VerificationError):
            verify_checkpoint(checkpoint, PUBLIC)


class TestConsistencyProofs:
    def setup_method(self):
        self.logs = MerkleLogs()
        for i in range(5):
            self.logs.append(LOG, b"a%d" % i)
        self.first = sign(self.logs, seq=1)
        for i in range(5, 12):
            self.logs.append(LOG, b"a%d" % i)
            self.logs.append("smguard.connection.events/1", b"b%d" % i)
        self.second = sign(self.logs, seq=2)
        self.proofs = {LOG: self.logs.prove_consistency(LOG, 5, 12).serialize()}

    def test_an_appended_log_is_consistent(self):
        verify_consistency(first=self.first, second=self.second, proofs=self.proofs, public_key=PUBLIC)

    def test_a_forged_consistency_proof_is_refused(self):
        forged = copy.deepcopy(self.proofs)
        forged[LOG]["path"][-1] = "ab" * 32
        with pytest.raises(VerificationError):
            verify_consistency(first=self.first, second=self.second, proofs=forged, public_key=PUBLIC)

    def test_a_rewritten_history_is_not_consistent(self):
        other = MerkleLogs()
        for i in range(12):
            other.append(LOG, b"z%d" % i)
        rewritten = sign(other, seq=2)
        proofs = {LOG: other.prove_consistency(LOG, 5, 12).serialize()}
        with pytest.raises(VerificationError):
            verify_consistency(first=self.first, second=rewritten, proofs=proofs, public_key=PUBLIC)
