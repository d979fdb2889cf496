"""What a connection decides about block recommendations: raise one, confirm it (a block), reject it."""

from __future__ import annotations

from typing import Callable

from services.connection.domain.state import Recommendation, keep_recent
from shared.domain import Conflict, Invalid
from shared.events import DomainEvent
from shared.events.connection import BlockRecommendationRejected, BlockRecommended, ConnectionBlocked
from shared.events.values import Actor, BlockReason


class Recommendations:
    """Decisions on block recommendations and their state changes (mixed into the Connection aggregate)."""

    id: str
    recommendations: dict[str, Recommendation]
    blocked_by_ever: list[str]

    _ids: Callable[[], dict[str, str]]
    _record: Callable[[DomainEvent], None]
    _refuse_repeat_block: Callable[[str], None]

    def recommend_block(self, *, recommendation_id: str, reason: BlockReason, incident_id: str) -> bool:
        """Raise a recommendation; once per connection and incident, none when it already blocked."""
        known = {r.incident_id for r in self.recommendations.values()}
        if incident_id in self.blocked_by_ever or incident_id in known:
            return False
        self._record(
            BlockRecommended(**self._ids(), recommendation_id=recommendation_id, reason=reason, incident_id=incident_id)
        )
        return True

    def confirm_recommendation(self, recommendation_id: str, *, decided_by: Actor, request_id: str, note: str = "") -> None:
        """An analyst confirms: the connection is blocked for the recommendation's incident."""
        rec = self._open_recommendation(recommendation_id)
        self._refuse_repeat_block(rec.incident_id)
        self._record(
            ConnectionBlocked(
                **self._ids(), reason=rec.reason, incident_id=rec.incident_id, decided_by=decided_by,
                note=note, recommendation_id=recommendation_id, request_id=request_id,
            )
        )

    def reject_recommendation(self, recommendation_id: str, *, decided_by: Actor, note: str = "") -> None:
        """An analyst rejects the recommendation."""
        self._open_recommendation(recommendation_id)
        self._record(
            BlockRecommendationRejected(**self._ids(), recommendation_id=recommendation_id, note=note, decided_by=decided_by)
        )

    def _open_recommendation(self, recommendation_id: str) -> Recommendation:
        rec = self.recommendations.get(recommendation_id)
        if rec is None:
            raise Invalid(f"no recommendation {recommendation_id} on connection {self.id}")
        if rec.status != "open":
            raise Conflict(f"recommendation {recommendation_id} was already {rec.status}")
        return rec

    def _on_BlockRecommended(self, e: BlockRecommended) -> None:
        self.recommendations[e.recommendation_id] = Recommendation(e.recommendation_id, e.reason, e.incident_id)

    def _on_BlockRecommendationRejected(self, e: BlockRecommendationRejected) -> None:
        if e.recommendation_id in self.recommendations:
            self.recommendations[e.recommendation_id].status = "rejected"
            keep_recent(self.recommendations)
