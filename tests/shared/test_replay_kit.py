"""The replay kit: positions across services, the live read model at a quiet moment, comparing snapshots."""

from __future__ import annotations

import asyncio

import pytest

from shared.config import Settings
from shared.eventstore import StoreUnavailable
from shared.replay import LiveReadModel, positions_of
from shared.replay.compare import differences

SETTINGS = Settings(topic_prefix="t1.")


class TestPositions:
    def test_positions_are_named_by_topic_base_and_partition_and_other_topics_are_left_out(self) -> None:
        found = positions_of(
            SETTINGS,
            ["smguard.incident.events"],
            [{("t1.smguard.incident.events", 0): 7, ("t1.smguard.incident.events", 1): 3}, {("t1.other", 0): 9}],
        )
        assert found == {"smguard.incident.events/0": 7, "smguard.incident.events/1": 3}


class Store:
    """A store whose appends finish when the test says so."""

    def __init__(self, in_flight: int) -> None:
        self.in_flight = in_flight
        self.done = asyncio.Event()

    def positions(self) -> dict[tuple[str, int], int]:
        return {("t1.smguard.connection.events", 0): 4}

    async def quiet(self) -> None:
        await self.done.wait()


class TestLiveReadModel:
    async def test_the_snapshot_waits_for_appends_under_way_and_comes_with_their_positions(self) -> None:
        store = Store(in_flight=1)
        live = LiveReadModel(SETTINGS, ["smguard.connection.events"], snapshot=lambda: {"n": store.in_flight}, store=store)
        taking = asyncio.create_task(live.take())
        await asyncio.sleep(0)
        assert not taking.done()
        store.in_flight = 0
        store.done.set()
        assert await taking == {"positions": {"smguard.connection.events/0": 4}, "read_models": {"n": 0}}

    async def test_a_store_that_never_goes_quiet_is_reported_unavailable(self) -> None:
        store = Store(in_flight=1)
        store.done.set()
        live = LiveReadModel(SETTINGS, ["smguard.connection.events"], snapshot=dict, store=store)
        with pytest.raises(StoreUnavailable, match="no quiet moment"):
            await live.take()


class TestDifferences:
    def test_equal_snapshots_have_no_difference(self) -> None:
        assert differences({"a": [1, {"b": 2}]}, {"a": [1, {"b": 2}]}) == []

    def test_each_difference_names_its_path_and_both_values(self) -> None:
        found = differences({"a": {"b": 1, "only_live": 0}, "l": [1, 2]}, {"a": {"b": 2, "only_replay": 0}, "l": [1]})
        assert found == [
            "a.b: live=1 replay=2",
            "a.only_live: only in the live read model (0), not in the stream",
            "a.only_replay: missing in the live read model (replay has 0)",
            "l: live=[1, 2] replay=[1]",
        ]
