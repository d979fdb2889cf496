"""Replay, written once: read topics as raw records, rebuild read models, show the live ones, compare."""

from shared.replay.compare import differences
from shared.replay.kit import LiveReadModel, Projector, ReadModels, SinkProjector, positions_of, rebuild, rebuild_many, scratch_dir
from shared.replay.records import Progress, Record, position_key, read_records

__all__ = [
    "LiveReadModel", "Progress", "Projector", "ReadModels", "Record", "SinkProjector",
    "differences", "position_key", "positions_of", "read_records", "rebuild", "rebuild_many", "scratch_dir",
]  # fmt: skip
