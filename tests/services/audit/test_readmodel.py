"""The read model replay compares: a scratch log fed raw records gives the live log's snapshot, and leaves no files."""

from __future__ import annotations

import tempfile

import pytest

from services.audit.bootstrap import READ_MODELS
from services.audit.projections.log import AuditLog
from services.audit.projections.readmodel import LiveAuditLog, read_model_of
from shared.topics import CONNECTION_EVENTS, INCIDENT_EVENTS
from tests.factories import connection_blocked, connection_registered, incident_opened, uid
from tests.services.audit.helpers import records_of


@pytest.fixture
def scratch_root(tmp_path, monkeypatch):
    """Where temporary folders go during the test (to see that a replay removes its own)."""
    root = tmp_path / "scratch"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


@pytest.fixture
def live(tmp_path):
    log = AuditLog(tmp_path / "audit-log.sqlite")
    yield log
    log.close()


def some_records():
    op, inc, con = uid("op"), uid("inc"), uid("con")
    incidents = records_of(INCIDENT_EVENTS, [(inc, incident_opened(inc, op))], operator_id=op)
    connections = records_of(CONNECTION_EVENTS, [(con, connection_registered(con, op)), (con, connection_blocked(con, op, inc))],
                             partition=1, operator_id=op)  # fmt: skip
    return [*incidents, *connections]


class TestScratchLog:
    async def test_the_scratch_log_gives_the_live_snapshot_and_leaves_no_files(self, live, scratch_root, settings):
        records = some_records()
        live.append(records)
        shown = await LiveAuditLog(live).take()
        scratch = READ_MODELS.scratch(settings)
        await scratch.feed_many(records[:1])
        for record in records[1:]:
            await scratch.feed(record)
        replayed = await scratch.finish()
        assert shown["read_models"] == replayed
        assert shown["positions"] == {"smguard.incident.events/0": 1, "smguard.connection.events/1": 2}
        assert replayed["audit_log"]["size"] == 3
        assert list(scratch_root.iterdir()) == []

    async def test_a_snapshot_at_positions_counts_only_the_records_before_them(self, live, settings):
        records = some_records()
        live.append(records)
        scratch = READ_MODELS.scratch(settings)
        for record in records[:2]:
            await scratch.feed(record)
        at = {"smguard.incident.events/0": 1, "smguard.connection.events/1": 1}
        assert read_model_of(live.path, at) == await scratch.finish()
