"""The audit log's trees kept as stored nodes: reopening reads nodes, not entries; older databases are upgraded."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from pymerkle import InmemoryTree

from services.audit.adapters import store
from services.audit.projections.log import AuditLog
from shared.replay.records import Record

TOPIC = "smguard.incident.events"
SIZES = {0: 700, 1: 333, 2: 1}  # per partition


def records(partition: int, start: int, stop: int) -> list[Record]:
    return [Record(TOPIC, partition, offset, b"value %d/%d" % (partition, offset)) for offset in range(start, stop)]


def fill(path: Path) -> dict[str, InmemoryTree]:
    """A log with three partitions, appended in batches; pymerkle's trees of the same records."""
    log = AuditLog(path)
    try:
        for partition, n in SIZES.items():
            for start in range(0, n, 128):
                log.append(records(partition, start, min(n, start + 128)))
    finally:
        log.close()
    trees = {}
    for partition, n in SIZES.items():
        trees[f"{TOPIC}/{partition}"] = InmemoryTree.init_from_entries(r.value for r in records(partition, 0, n))
    return trees


def count(path: Path, sql: str) -> int:
    with sqlite3.connect(path) as db:
        return db.execute(sql).fetchone()[0]


@pytest.fixture
def statements(monkeypatch) -> list[str]:
    """Every SQL statement run on the connections AuditLog opens from now on."""
    seen: list[str] = []
    connect = store.connect

    def traced(path: Path) -> sqlite3.Connection:
        db = connect(path)
        db.set_trace_callback(seen.append)
        return db

    monkeypatch.setattr(store, "connect", traced)
    return seen


def assert_matches(log: AuditLog, trees: dict[str, InmemoryTree]) -> None:
    assert {name: h.size for name, h in log.logs.heads().items()} == {name: t.get_size() for name, t in trees.items()}
    for name, tree in trees.items():
        n = tree.get_size()
        for size in {1, n // 3 or 1, n - 1 or 1, n}:
            assert log.logs.head(name, size).root == tree.get_root(size).hex()
            assert log.logs.prove_inclusion(name, size - 1, size).serialize() == tree.prove_inclusion(size, size).serialize()
            assert log.logs.prove_inclusion(name, 0, n).serialize() == tree.prove_inclusion(1, n).serialize()
            assert log.logs.prove_consistency(name, size, n).serialize() == tree.prove_consistency(size, n).serialize()


class TestReopen:
    def test_the_nodes_are_stored_with_the_entries(self, tmp_path):
        path = tmp_path / "audit-log.sqlite"
        fill(path)
        # a tree of n leaves has n - popcount(n) complete nodes above its leaves
        assert count(path, "SELECT COUNT(*) FROM merkle_nodes") == sum(n - bin(n).count("1") for n in SIZES.values())

    def test_reopening_gives_the_same_heads_and_proofs_reading_only_a_few_nodes(self, tmp_path, statements):
        path = tmp_path / "audit-log.sqlite"
        trees = fill(path)
        statements.clear()
        log = AuditLog(path)
        try:
            opened = list(statements)
            assert_matches(log, trees)
            assert log.positions == {f"{TOPIC}/{p}": n for p, n in SIZES.items()}
        finally:
            log.close()
        # the leaf format check, then per log: two look-ups for its end, one per node of its frontier (bits of its
        # size), not one per entry
        assert len(opened) <= 2 + sum(2 + bin(n).count("1") for n in SIZES.values()), opened
        assert not [s for s in opened if "ORDER BY log, idx" in s or "GROUP BY" in s], opened

    def test_appending_after_reopening_continues_the_same_trees(self, tmp_path):
        path = tmp_path / "audit-log.sqlite"
        trees = fill(path)
        log = AuditLog(path)
        try:
            more = records(1, SIZES[1] - 5, SIZES[1] + 40)  # five redelivered, forty new
            assert log.append(more) == 40
            tree = trees[f"{TOPIC}/1"]
            for r in more[5:]:
                tree.append_entry(r.value)
            assert_matches(log, trees)
        finally:
            log.close()
        last = count(path, f"SELECT hex(root_after) FROM entries WHERE log = '{TOPIC}/1' ORDER BY idx DESC LIMIT 1")
        assert last.lower() == tree.get_root().hex()

    def test_a_failed_batch_leaves_neither_entries_nor_nodes_nor_tree_ahead(self, tmp_path, monkeypatch):
        path = tmp_path / "audit-log.sqlite"
        trees = fill(path)
        nodes_before = count(path, "SELECT COUNT(*) FROM merkle_nodes")
        log = AuditLog(path)
        try:
            real = store.add_nodes

            def failing(db, nodes, **kw):
                real(db, nodes, **kw)
                raise sqlite3.OperationalError("disk I/O error")

            monkeypatch.setattr(store, "add_nodes", failing)
            with pytest.raises(sqlite3.OperationalError):
                log.append(records(0, SIZES[0], SIZES[0] + 64))
            monkeypatch.setattr(store, "add_nodes", real)
            assert_matches(log, trees)
            assert count(path, "SELECT COUNT(*) FROM merkle_nodes") == nodes_before
            assert log.append(records(0, SIZES[0], SIZES[0] + 64)) == 64
        finally:
            log.close()


class TestOlderDatabases:
    def test_a_database_with_entries_but_no_nodes_gets_them_once(self, tmp_path, statements):
        path = tmp_path / "audit-log.sqlite"
        trees = fill(path)
        expected = count(path, "SELECT COUNT(*) FROM merkle_nodes")
        with sqlite3.connect(path) as db:
            db.execute("DROP TABLE merkle_nodes")  # as the schema was before the nodes were stored
        statements.clear()
        log = AuditLog(path)
        try:
            assert any("INSERT OR REPLACE INTO merkle_nodes" in s for s in statements)
            assert_matches(log, trees)
        finally:
            log.close()
        assert count(path, "SELECT COUNT(*) FROM merkle_nodes") == expected
        statements.clear()
        log = AuditLog(path)
        try:
            assert not [s for s in statements if "merkle_nodes VALUES" in s]
            assert_matches(log, trees)
        finally:
            log.close()

    def test_a_log_whose_frontier_node_is_missing_is_rebuilt(self, tmp_path):
        path = tmp_path / "audit-log.sqlite"
        trees = fill(path)
        with sqlite3.connect(path) as db:
            db.execute(f"DELETE FROM merkle_nodes WHERE log = '{TOPIC}/0' AND level = 9")  # the 512-leaf subtree
        log = AuditLog(path)
        try:
            assert_matches(log, trees)
        finally:
            log.close()
