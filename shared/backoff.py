"""Exponential back-off, the one rule for every retry (enforcement requests, deliveries)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    """``base * 2**(attempt-1)`` seconds after the ``attempt``-th failure, at most ``cap``."""

    base: float
    cap: float

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based; 0 or less waits ``base``)."""
        return min(self.cap, self.base * 2 ** max(0, attempt - 1))
