"""Durable read models (shared/documents.py): a batch folds as the events one by one would, or not at all."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from aiokafka import TopicPartition

from shared.documents import SCHEMA, DocumentSink, Documents
from shared.envelope import Envelope, Position
from tests.factories import envelope, incident_opened, report_overdue, uid


class Counts(DocumentSink):
    """One document per incident counting its events, tagged by the last event type; ``broken``: raise on these."""

    broken: set[str] = set()

    def fold(self, docs: Documents, event: Envelope) -> None:
        if event.subject in self.broken:
            raise RuntimeError("cannot fold this one")
        doc = docs.get("counts", event.subject) or {"events": 0, "types": []}
        doc["events"] += 1
        doc["types"].append(event.type.rsplit(".", 1)[-1])
        docs.put("counts", event.subject, doc, sort=f"{doc['events']:04d}", tags={"last": doc["types"][-1]})
        _, total = docs.query("counts", where={"last": "ReportOverdue"})  # a query in a fold sees the batch so far
        docs.put("totals", "overdue", {"incidents": total})


def test_a_tag_query_reads_its_matches_not_the_whole_collection() -> None:
    """A page of what few documents match is found through the tags, never by reading every document of the
    collection in order (what made GET /incidents/{id} slower with every block ever recorded)."""
    db = sqlite3.connect(":memory:", isolation_level=None)
    db.executescript(SCHEMA)
    docs = Documents(db)
    for i in range(50):
        docs.put("blocks", f"b{i:02d}", {"i": i}, sort=f"{49 - i:02d}", tags={"incident": "big" if i else "small"})
    ran: list[str] = []
    db.set_trace_callback(ran.append)
    assert docs.query("blocks", where={"incident": "small"}, newest_first=False) == ([{"i": 0}], 1)
    db.set_trace_callback(None)
    page = next(sql for sql in ran if sql.startswith("SELECT doc"))
    plan = " ".join(row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {page}"))
    assert "docs_sort" not in plan and "(coll=? AND key=?)" in plan, plan
    assert docs.query("blocks", where={"incident": "big"}, limit=3, newest_first=False) == ([{"i": 49}, {"i": 48}, {"i": 47}], 49)
    assert docs.query("blocks", where={"incident": "big"}, limit=2)[0] == [{"i": 1}, {"i": 2}]


def stream(incidents: list[str]) -> list[tuple[Envelope, int]]:
    """Each incident opened then overdue twice, interleaved, at consecutive offsets of one partition."""
    events = [(i, incident_opened(i)) for i in incidents] + [(i, report_overdue(i)) for i in incidents] * 2
    return [
        (envelope(event, subject, position=Position("t", 0, offset)), offset + 1)
        for offset, (subject, event) in enumerate(events)
    ]


def state(sink: DocumentSink) -> dict:
    return {
        "docs": dict(sink.docs.every("counts")),
        "totals": dict(sink.docs.every("totals")),
        "listed": sink.docs.query("counts", where={"last": "ReportOverdue"}),
        "positions": sink.resume_positions(),
    }


async def test_a_batch_leaves_the_documents_tags_and_positions_one_by_one_would(tmp_path: Path) -> None:
    events = stream([uid("inc") for _ in range(5)])
    one, many = Counts(tmp_path / "one.sqlite"), Counts(tmp_path / "many.sqlite")
    for event, resume_at in events:
        await one.apply(event, resume_at=resume_at)
    await many.apply_many(events[:7])
    await many.apply_many(events[7:])
    assert state(many) == state(one)
    assert state(many)["positions"] == {TopicPartition("t", 0): len(events)}
    assert all(many.already_applied(e.id) for e, _ in events)
    assert state(many)["totals"]["overdue"] == {"incidents": 5}


async def test_a_batch_with_an_event_that_cannot_fold_changes_nothing(tmp_path: Path) -> None:
    good, bad = uid("inc"), uid("inc")
    sink = Counts(tmp_path / "view.sqlite")
    await sink.apply_many(stream([good])[:1])
    before = state(sink)
    sink.broken = {bad}
    batch = stream([good, bad])[2:]  # the good one's later events and the bad one's, interleaved
    with pytest.raises(RuntimeError):
        await sink.apply_many(batch)
    assert state(sink) == before
    assert not any(sink.already_applied(e.id) for e, _ in batch)
