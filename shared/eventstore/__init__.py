"""Event stores: the port, an in-memory one for handler tests, and the Kafka one."""

from shared.eventstore.ports import (
    AppendResult,
    ConcurrencyError,
    Context,
    EventStore,
    StoreUnavailable,
    WriterFenced,
    caused_by,
)

__all__ = ["AppendResult", "ConcurrencyError", "Context", "EventStore", "StoreUnavailable", "WriterFenced", "caused_by"]
