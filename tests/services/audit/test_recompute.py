"""The one-pass recomputation gives the roots and names the problems that appending entry by entry did."""

from __future__ import annotations

from itertools import groupby

from hypothesis import given, settings
from hypothesis import strategies as st
from pymerkle import InmemoryTree

from services.audit.domain.integrity import TALLY_EVERY, Problem, StoredEntry, recompute
from services.audit.domain.merkle import Head, MerkleLogs
from services.audit.domain.verifier import leaf_hash

SIZES = {"smguard.incident.events/0": 1025, "smguard.incident.events/1": 64, "smguard.connection.events/0": 7,
         "smguard.policy.events/0": 1}  # fmt: skip
ROOT_BEFORE = "4692f20264986b305aa28a8ec9549cf672c9f95f6d13354a7f716ceca66697ac"
"""The combined root of ``stored(SIZES)`` as the log computed it before the one-pass recomputation."""


def stored(sizes: dict[str, int]) -> tuple[list[StoredEntry], MerkleLogs]:
    logs, rows = MerkleLogs(), []
    for log, n in sizes.items():
        for i in range(n):
            value = f'{{"id":"{log}-{i}","subject":"インシデント-{i}"}}'.encode()
            index, leaf, root = logs.append(log, value)
            rows.append(StoredEntry(log, index, 3 * i, value, leaf, root))
    return sorted(rows, key=lambda r: (r.log, r.index)), logs


def signed(logs: MerkleLogs, seq: int, sizes: dict[str, int]) -> tuple[int, dict[str, Head]]:
    return seq, {log: logs.head(log, size) for log, size in sizes.items()}


def reference(entries: list[StoredEntry], checkpoints: list[tuple[int, dict[str, Head]]]) -> list[Problem]:
    """The recomputation as it was: each entry appended to a tree that keeps every node, then every check."""
    logs, problems = MerkleLogs(), []
    for log, rows in groupby(entries, key=lambda e: e.log):
        problem, previous = None, -1
        for e in rows:
            expected = logs.size(log)
            _, _, root = logs.append(log, e.value)
            found = (Problem(log, expected, f"entry missing (removed): the next stored entry is #{e.index}") if e.index != expected
                     else Problem(log, e.index, "out of order (reordered): offset goes back", e.offset) if e.offset <= previous
                     else Problem(log, e.index, "bytes changed: leaf hash differs", e.offset) if leaf_hash(e.value) != e.leaf_hash
                     else Problem(log, e.index, "does not match the tree head recorded when it was appended", e.offset)
                     if root != e.root_after else None)  # fmt: skip
            problem, previous = problem or found, e.offset
        problems += [p for p in [problem or reference_checkpoints(logs, log, checkpoints)] if p]
    for log in sorted({log for _, heads in checkpoints for log in heads} - set(logs.heads())):
        problems += [p for p in [reference_checkpoints(logs, log, checkpoints)] if p]
    return sorted(problems, key=lambda p: (p.log, p.index))


def reference_checkpoints(logs: MerkleLogs, log: str, checkpoints: list[tuple[int, dict[str, Head]]]) -> Problem | None:
    good = 0
    for seq, heads in sorted(checkpoints, key=lambda c: c[0]):
        head = heads.get(log)
        if head is None or head.size == 0:
            continue
        if head.size > logs.size(log):
            return Problem(log, logs.size(log), f"entry missing: checkpoint #{seq} signed {head.size} entries")
        if logs.head(log, head.size).root != head.root:
            return Problem(log, good, f"log does not reproduce the root signed in checkpoint #{seq}")
        good = max(good, head.size)
    return None


class TestTheRoots:
    def test_the_combined_root_is_the_one_computed_before(self):
        rows, logs = stored(SIZES)
        report = recompute(rows, [])
        assert report.problems == []
        assert report.logs.root() == logs.root() == ROOT_BEFORE
        assert report.logs.total_size() == sum(SIZES.values())

    def test_every_head_is_pymerkles_tree_over_the_same_bytes(self):
        rows, _ = stored(SIZES)
        heads = recompute(rows, []).logs.heads()
        for log, log_rows in groupby(rows, key=lambda r: r.log):
            tree = InmemoryTree()
            for row in log_rows:
                tree.append_entry(row.value)
            assert heads[log] == Head(tree.get_size(), tree.get_root().hex())


TAMPERING = st.sampled_from(["value", "leaf", "root", "remove", "swap", "truncate", "offset"])
SMALL = {"smguard.incident.events/0": 70, "smguard.incident.events/1": 9, "smguard.policy.events/0": 2}


class TestTheProblemsNamed:
    @settings(max_examples=80, deadline=None)
    @given(tamper=st.lists(st.tuples(TAMPERING, st.integers(0, 80)), max_size=3),
           checkpoint_sizes=st.lists(st.tuples(st.integers(0, 70), st.integers(0, 9)), max_size=3))  # fmt: skip
    def test_the_same_problems_as_appending_entry_by_entry(self, tamper, checkpoint_sizes):
        rows, logs = stored(SMALL)
        checkpoints = [signed(logs, seq, {"smguard.incident.events/0": a, "smguard.incident.events/1": b})
                       for seq, (a, b) in enumerate(checkpoint_sizes, start=1)]  # fmt: skip
        for kind, at in tamper:
            rows = tampered(rows, kind, at % len(rows)) if rows else rows
        assert recompute(rows, checkpoints).problems == reference(rows, checkpoints)

    def test_a_log_only_a_checkpoint_knows_is_missing_its_entries(self):
        rows, logs = stored(SIZES)
        checkpoint = signed(logs, 1, {"smguard.policy.events/0": 1})
        without = [r for r in rows if r.log != "smguard.policy.events/0"]
        problems = [(p.as_dict()["entry"], p.reason) for p in recompute(without, [checkpoint]).problems]
        assert problems == [("smguard.policy.events/0#0", "entry missing: checkpoint #1 signed 1 entries")]


def tampered(rows: list[StoredEntry], kind: str, at: int) -> list[StoredEntry]:
    rows = list(rows)
    row = rows[at]
    if kind == "value":
        rows[at] = row._replace(value=row.value + b" ")
    elif kind == "leaf":
        rows[at] = row._replace(value=row.value + b" ", leaf_hash=leaf_hash(row.value + b" "))
    elif kind == "root":
        rows[at] = row._replace(root_after=bytes(32))
    elif kind == "remove":
        del rows[at]
    elif kind == "swap" and at + 1 < len(rows):
        rows[at], rows[at + 1] = rows[at + 1]._replace(index=row.index), row._replace(index=rows[at + 1].index)
    elif kind == "truncate":
        rows = rows[:at]
    elif kind == "offset":
        rows[at] = row._replace(offset=-1)
    return rows


class TestTheTally:
    def test_it_counts_up_to_every_entry(self):
        rows, _ = stored({"smguard.incident.events/0": TALLY_EVERY + 5, "smguard.incident.events/1": 3})
        seen: list[int] = []
        recompute(rows, [], tally=seen.append)
        assert seen == sorted(seen) and seen[-1] == TALLY_EVERY + 8
        assert TALLY_EVERY in seen
