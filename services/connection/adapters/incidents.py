"""The consumer of the incident topic: each event goes to the reactions, in stream order."""

from __future__ import annotations

from services.connection.application.reactions import IncidentReactions
from shared.envelope import Envelope
from shared.kafka.sinks import MemorySink


class IncidentSink(MemorySink):
    """Rebuilt from the start of the topic at each start; the reactions are idempotent."""

    def __init__(self, reactions: IncidentReactions) -> None:
        super().__init__()
        self._reactions = reactions

    async def handle(self, envelope: Envelope) -> None:
        """Let the reactions decide."""
        await self._reactions.handle(envelope)
