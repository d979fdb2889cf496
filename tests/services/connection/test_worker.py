"""The enforcement worker over the in-memory store: it sends only what is committed, records outcomes, resumes."""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Sequence

import pytest

from services.connection.adapters.memory import RecordingEnforcement
from services.connection.application.worker import EnforcementWorker
from shared.backoff import Backoff
from shared.eventstore import InboxRecord, Snapshot, Staged, StoreUnavailable
from shared.eventstore.memory import InMemoryEventStore
from tests.factories import eventually
from tests.services.connection.helpers import anomaly, cleared, in_memory, loaded, registered, types


class SlowBroker(InMemoryEventStore):
    """Stages at once (later loads see it), but while ``holding`` commits only when the test says:
    ``commit()``, or ``fail()`` — then the store forgets it, as the Kafka store forgets a failed transaction.
    ``find(committed=True)`` and the commit listeners see an append only once it is committed."""

    def __init__(self) -> None:
        super().__init__()
        self.holding = False
        self.listeners: list[Callable[[Sequence[str]], None]] = []
        self.held: list[tuple[str, Snapshot | None, dict[str, Any], int, Staged, asyncio.Future]] = []
        self.held_offsets: list[tuple[InboxRecord, asyncio.Future]] = []
        self.committed: dict[str, Snapshot] = {}

    def on_commit(self, listener: Callable[[Sequence[str]], None]) -> None:
        self.listeners.append(listener)

    @property
    def commit_listeners(self) -> list[Callable[[Sequence[str]], None]]:
        return [] if self.holding else self.listeners

    def stage(self, aggregate_id, events, **options):  # type: ignore[no-untyped-def]
        before, keys, published = self._snapshots.get(aggregate_id), dict(self._keys), len(self.published)
        inner = super().stage(aggregate_id, events, **options)
        if not self.holding:
            self.committed[aggregate_id] = self._snapshots[aggregate_id]
            return inner
        outcome = asyncio.get_running_loop().create_future()
        self.held.append((aggregate_id, before, keys, published, inner, outcome))
        return Staged(outcome)

    def consumed(self, inbox: InboxRecord) -> Staged:
        if not self.holding:
            return super().consumed(inbox)
        outcome = asyncio.get_running_loop().create_future()
        self.held_offsets.append((inbox, outcome))
        return Staged(outcome)

    def find(self, index: str, value: str, *, committed: bool = False) -> list[str]:
        if not committed:
            return super().find(index, value)
        return sorted(i for i, s in self.committed.items() if value in s.index.get(index, ()))

    async def commit(self) -> None:
        """Every held append lands; the listeners hear of it."""
        held, self.held = self.held, []
        for aggregate_id, _, _, _, inner, outcome in held:
            self.committed[aggregate_id] = self._snapshots[aggregate_id]
            outcome.set_result(await inner.committed())
            for listener in self.listeners:
                listener([aggregate_id])
        for inbox, outcome in self._offsets():
            outcome.set_result(await super().consumed(inbox).committed())

    def fail(self) -> None:
        """Every held append fails to commit and is forgotten."""
        held, self.held = self.held, []
        for aggregate_id, before, keys, published, _, outcome in reversed(held):
            if before is None:
                del self._snapshots[aggregate_id]
            else:
                self._snapshots[aggregate_id] = before
            self._keys, self.published[published:] = keys, []
            outcome.set_exception(StoreUnavailable("broker away"))
        for _, outcome in self._offsets():
            outcome.set_exception(StoreUnavailable("broker away"))

    def _offsets(self) -> list[tuple[InboxRecord, asyncio.Future]]:
        held, self.held_offsets = self.held_offsets, []
        return held


def worker_of(h, port: RecordingEnforcement) -> EnforcementWorker:  # type: ignore[no-untyped-def]
    worker = EnforcementWorker(h.service, port, backoff=Backoff(0.01, 0.05), escalate_after=600)
    h.store.on_commit(worker.committed)
    return worker


class TestOnlyCommitted:
    async def test_a_block_whose_commit_failed_is_never_sent_and_its_redelivery_is_sent_once(self, tmp_path):
        store = SlowBroker()
        h = await in_memory(tmp_path, store)
        port = RecordingEnforcement()
        worker = worker_of(h, port)
        cid = await registered(h)
        commands = await h.commands(anomaly("inc-1", cid, "op-a"))
        store.holding = True
        deciding = asyncio.create_task(h.deliver(commands))
        await eventually(lambda: store.held, what="the block staged")
        assert loaded(h, cid).status == "blocked"  # staged: later decisions see it
        await worker.sweep()
        store.fail()
        with pytest.raises(StoreUnavailable):
            await deciding
        await worker.sweep()
        assert loaded(h, cid).status == "active" and port.calls == []
        store.holding = False
        await h.deliver(commands)  # the inbox reads the batch again
        await eventually(lambda: types(store, cid)[-1] == "BlockEnforced", what="the block decided again, enforced")
        (request_id,) = loaded(h, cid).requests
        assert [call.request_id for call in port.calls] == [request_id]
        await worker.stop()

    async def test_a_request_starts_as_soon_as_its_block_commits(self, tmp_path):
        store = SlowBroker()
        h = await in_memory(tmp_path, store)
        port = RecordingEnforcement()
        worker = worker_of(h, port)
        cid = await registered(h)
        store.holding = True
        deciding = asyncio.create_task(h.react(anomaly("inc-1", cid, "op-a")))
        await eventually(lambda: store.held, what="the block staged")
        await worker.sweep()
        assert port.calls == []
        store.holding = False
        await store.commit()
        await deciding
        await eventually(lambda: port.acknowledged, what="sent once committed")
        await eventually(lambda: types(store, cid)[-1] == "BlockEnforced", what="the acknowledgement recorded")
        await worker.stop()


class TestFailedCommits:
    async def test_a_batch_whose_commit_failed_is_decided_again_in_order_when_read_again(self, tmp_path):
        store = SlowBroker()
        h = await in_memory(tmp_path, store)
        cid = await registered(h)
        commands = await h.commands([*anomaly("inc-1", cid, "op-a"), *cleared("inc-1")])
        store.holding = True
        deciding = asyncio.create_task(h.deliver(commands))
        await eventually(lambda: len(store.held) == 2, what="the block and its release staged")
        store.fail()
        with pytest.raises(StoreUnavailable):
            await deciding
        assert types(store, cid) == ["ConnectionRegistered"] and store.consumed_records == []
        store.holding = False
        await h.deliver(commands)
        assert types(store, cid) == ["ConnectionRegistered", "ConnectionBlocked", "BlockReleased"]
        assert loaded(h, cid).status == "awaiting_approval"


class TestOutcomes:
    async def test_failures_are_recorded_and_retried_until_acknowledged(self, tmp_path):
        h = await in_memory(tmp_path)
        port = RecordingEnforcement(fail_next=2)
        worker = worker_of(h, port)
        cid = await registered(h)
        await h.react(anomaly("inc-1", cid, "op-a"))
        await eventually(lambda: types(h.store, cid)[-1] == "BlockEnforced", what="recorded after two failures")
        assert types(h.store, cid).count("BlockEnforcementFailed") == 2 and len(port.calls) == 3
        await worker.stop()

    async def test_at_start_pending_requests_are_resumed_and_enforced_ones_are_not(self, tmp_path):
        h = await in_memory(tmp_path)
        cid = await registered(h)
        await h.react(anomaly("inc-1", cid, "op-a"))
        port = RecordingEnforcement()
        worker = EnforcementWorker(h.service, port, backoff=Backoff(0.01, 0.05), escalate_after=600)
        await worker.start()
        await eventually(lambda: types(h.store, cid)[-1] == "BlockEnforced", what="resumed")
        await worker.start()
        await worker.sweep()
        assert len(port.calls) == 1
        await worker.stop()

    async def test_a_request_not_acknowledged_in_time_escalates_once(self, tmp_path):
        h = await in_memory(tmp_path)
        port = RecordingEnforcement(always_fail=True)
        worker = EnforcementWorker(h.service, port, backoff=Backoff(0.01, 0.05), escalate_after=0)
        cid = await registered(h)
        await h.react(anomaly("inc-1", cid, "op-a"))
        await h.sync()
        await worker.sweep()
        await worker.sweep()
        assert types(h.store, cid).count("EnforcementEscalated") == 1
        await worker.stop()
