"""The enforcement port, counted: every request's outcome and how long the peer took, whichever adapter sends it."""

from __future__ import annotations

import time

from services.connection.application.ports import (
    EnforcementCall,
    EnforcementError,
    EnforcementNotConfigured,
    EnforcementPort,
)
from shared.metrics import ENFORCEMENT_REQUESTS, ENFORCEMENT_SECONDS


class MeteredEnforcement(EnforcementPort):
    """Wraps a port: ``smguard_enforcement_requests_total{action,outcome}`` and ``…_request_seconds{action}``."""

    def __init__(self, port: EnforcementPort) -> None:
        self.port = port

    async def send(self, call: EnforcementCall) -> None:
        """Send through the wrapped port, counting the outcome (enforced, failed or not_configured)."""
        began = time.perf_counter()
        outcome = "failed"
        try:
            await self.port.send(call)
            outcome = "enforced"
        except EnforcementNotConfigured:
            outcome = "not_configured"
            raise
        finally:
            if outcome != "not_configured":
                ENFORCEMENT_SECONDS.labels(call.action).observe(time.perf_counter() - began)
            ENFORCEMENT_REQUESTS.labels(call.action, outcome).inc()

    async def close(self) -> None:
        """Close the wrapped port."""
        await self.port.close()
