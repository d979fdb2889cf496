"""Bulk registration as one application step over the in-memory store: each row on its own, never half."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from services.connection.application.registrations import Registration, register_connections
from services.connection.domain.commands import RegisterConnection
from shared.domain import Forbidden
from shared.eventstore import Context, Staged, StoreUnavailable
from shared.eventstore.common import RecordTooLarge
from shared.eventstore.memory import InMemoryEventStore
from tests.services.connection.helpers import SECRETS, SOC, STAFF, in_memory, types


def row(n: int, maker: str = "M", operator_id: str | None = None) -> Registration:
    """Row ``n`` (rows count from 1): a special meter by ``maker``."""
    cmd = RegisterConnection(kind="special_meter", maker=maker, model="TK-100", firmware="2.1.0",
                             smart_meter_ids=(f"sm-{n}",), operator_id=operator_id)  # fmt: skip
    return Registration(n, cmd, SECRETS)


def rows(*makers: str) -> list[Registration]:
    """One row per maker."""
    return [row(n, maker) for n, maker in enumerate(makers, start=1)]


class Refusing(InMemoryEventStore):
    """Refuses the append of a connection by maker ``too-large`` when it is staged (as the Kafka store refuses a
    record over its limit), and fails the commit of one by maker ``lost`` (its transaction failed)."""

    def stage(self, aggregate_id: str, events: Any, **options: Any) -> Staged:
        maker = getattr(events[0], "maker", "")
        if maker == "too-large":
            raise RecordTooLarge(f"{aggregate_id}: the event would be over the limit")
        if maker == "lost":
            failed: asyncio.Future = asyncio.get_running_loop().create_future()
            failed.set_exception(StoreUnavailable("append failed: the broker went away"))
            return Staged(failed)
        return super().stage(aggregate_id, events, **options)


class TestEachRowOnItsOwn:
    async def test_valid_rows_are_registered_in_row_order_and_refused_ones_leave_no_event(self, tmp_path):
        h = await in_memory(tmp_path, Refusing())
        outcomes = await register_connections(h.service, rows("M", "too-large", "M", "lost", "M"), by=STAFF, context=Context())
        assert [o.row for o in outcomes] == [1, 2, 3, 4, 5]
        registered = [o.id for o in outcomes if o.id]
        assert [o.row for o in outcomes if o.id] == [1, 3, 5] and all(o.version == 1 for o in outcomes if o.id)
        assert "over the limit" in outcomes[1].error and "not registered" in outcomes[3].error
        connections = {e.subject for e in h.store.published if e.type == "ConnectionRegistered"}
        assert connections == set(registered)
        assert all(types(h.store, c) == ["ConnectionRegistered"] for c in registered)

    async def test_the_soc_names_an_onboarded_operator_per_row_and_a_row_without_one_is_refused(self, tmp_path):
        h = await in_memory(tmp_path)
        asked = [row(1, operator_id="op-a"), row(2), row(3, operator_id="op-nobody")]
        outcomes = await register_connections(h.service, asked, by=SOC, context=Context())
        assert outcomes[0].id is not None and h.service.connections.load(outcomes[0].id).operator_id == "op-a"
        assert "operator_id is required" in outcomes[1].error
        assert "not onboarded" in outcomes[2].error
        assert len(h.store.published) == 2  # the onboarding and the one registration

    async def test_an_operator_naming_another_in_any_row_registers_nothing(self, tmp_path):
        h = await in_memory(tmp_path)
        before = len(h.store.published)
        mixed = [row(1), row(2, operator_id="op-a"), row(3, operator_id="op-b")]
        with pytest.raises(Forbidden):
            await register_connections(h.service, mixed, by=STAFF, context=Context())
        assert len(h.store.published) == before


class TestRetries:
    async def test_a_retry_with_the_key_answers_the_registered_rows_and_decides_only_the_others(self, tmp_path):
        h = await in_memory(tmp_path, Refusing())
        first = await register_connections(h.service, rows("M", "too-large", "M"), by=STAFF, context=Context(), key="k-1")
        published = len(h.store.published)
        again = await register_connections(h.service, rows("M", "M", "M"), by=STAFF, context=Context(), key="k-1")
        assert [o.id for o in again][::2] == [o.id for o in first][::2]
        assert again[0].replayed and not again[1].replayed and again[1].id is not None
        assert len(h.store.published) == published + 1  # only the row refused the first time
        other = await register_connections(h.service, rows("M"), by=STAFF, context=Context(), key="k-2")
        assert other[0].id not in {o.id for o in again}
