"""Event stores: the port, an in-memory one for handler tests and tools, and the Kafka one."""

from shared.eventstore.ports import (
    AppendResult,
    ConcurrencyError,
    Context,
    EventStore,
    InboxRecord,
    NotOwner,
    Snapshot,
    Staged,
    StoreUnavailable,
    WriterFenced,
)

__all__ = [
    "AppendResult", "ConcurrencyError", "Context", "EventStore", "InboxRecord", "NotOwner", "Snapshot", "Staged",
    "StoreUnavailable", "WriterFenced",
]  # fmt: skip
