"""What the connection service consumes of other services: the incident topic, each event into the reactions pipeline in stream order."""

from __future__ import annotations

from services.connection.application.pipeline import Pipeline
from shared.envelope import Envelope
from shared.kafka.sinks import MemorySink


class IncidentSink(MemorySink):
    """Rebuilt from the start of the topic at each start; the reactions are idempotent."""

    def __init__(self, pipeline: Pipeline) -> None:
        super().__init__()
        self._pipeline = pipeline

    async def handle(self, envelope: Envelope) -> None:
        """Let the reactions decide (and stage) before the next event."""
        await self._pipeline.handle(envelope)
