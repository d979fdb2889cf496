"""The Connection aggregate: one piece of operator equipment and its block/reconnect life (part 2)."""

from __future__ import annotations

from typing import Literal

from services.connection.domain.credentials import Credentials
from services.connection.domain.enforcement import EnforcementRecords
from services.connection.domain.matching import model_keys
from services.connection.domain.recommendations import Recommendations
from services.connection.domain.state import EnforcementRequest, Hold, Recommendation, keep_recent, remember
from shared.domain import Aggregate, Conflict, Index, Invalid
from shared.events import DomainEvent
from shared.events.connection import (
    BlockReleased,
    ConnectionBlocked,
    ConnectionReconnected,
    ConnectionRegistered,
    ReconnectionApproved,
    SealedSecrets,
)
from shared.events.values import OPERATOR_ASSET_KINDS, Actor, BlockReason, Party, responsible_side

Status = Literal["active", "blocked", "awaiting_approval"]


class Connection(Credentials, Recommendations, EnforcementRecords, Aggregate):
    """Decides registration, blocks, releases and approvals (secrets and leaks, recommendations and enforcement
    records in the mixins); state changes only by applying events.

    The state is bounded: open requests and recommendations plus the latest finished ones, and the
    most recent incidents that blocked it or leaked its credentials — never every event's trace.
    """

    operator_id: str
    kind: str
    maker: str
    model: str
    firmware: str
    smart_meter_ids: list[str]
    holds: dict[str, Hold]
    blocked_by_ever: list[str]
    approvals: dict[Party, ReconnectionApproved]
    awaiting: bool
    recommendations: dict[str, Recommendation]
    requests: dict[str, EnforcementRequest]

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.operator_id, self.kind, self.maker, self.model, self.firmware = "", "", "", "", ""
        self.smart_meter_ids, self.secrets = [], None
        self.holds, self.blocked_by_ever, self.approvals, self.awaiting = {}, [], {}, False
        self.compromised_by, self.leaks_seen, self.recommendations, self.requests = [], [], {}, {}

    # ------------------------------------------------------------------ state

    @property
    def exists(self) -> bool:
        """Whether the connection was registered."""
        return bool(self.operator_id)

    @property
    def status(self) -> Status:
        """active, blocked (some incident holds it) or awaiting_approval (all cleared, not reconnected)."""
        if self.holds:
            return "blocked"
        return "awaiting_approval" if self.awaiting else "active"

    def index(self) -> Index:
        """Found by operator, smart meter, model key (fleet matching), holding incident, pending enforcement, sealing key."""
        if not self.exists:
            return {}
        pending = [r.request_id for r in self.requests.values() if r.pending]
        return {
            "operator": [self.operator_id],
            "meter": list(self.smart_meter_ids),
            "model": model_keys(kind=self.kind, maker=self.maker, model=self.model),
            "hold": sorted(self.holds),
            "pending": ["1"] if pending else [],
            "request": pending,
            "sealed_with": [self.secrets.sealed_with] if self.secrets else [],
        }

    # ------------------------------------------------------------------ decisions

    @classmethod
    def register(
        cls, connection_id: str, *, operator_id: str, kind: str, maker: str, model: str, firmware: str,
        smart_meter_ids: list[str], secrets: SealedSecrets,
    ) -> "Connection":
        """A new connection of operator equipment; utility-side kinds are refused (part 4)."""
        if kind not in OPERATOR_ASSET_KINDS:
            side = responsible_side(kind)
            raise Invalid(
                f"kind {kind} is a {side}-side asset: by the responsibility demarcation (part 4, 責任分界点) "
                f"a connection is operator equipment, one of {', '.join(sorted(OPERATOR_ASSET_KINDS))}"
            )
        connection = cls(connection_id)
        connection._record(
            ConnectionRegistered(
                connection_id=connection_id, operator_id=operator_id, kind=kind,  # type: ignore[arg-type]
                maker=maker, model=model, firmware=firmware,
                smart_meter_ids=list(dict.fromkeys(smart_meter_ids)), secrets=secrets,
            )
        )
        return connection

    def block(
        self, *, reason: BlockReason, incident_id: str, decided_by: Actor, request_id: str, note: str = ""
    ) -> None:
        """Block for an incident (a person or a policy decided); 409 when that incident already did."""
        self._refuse_repeat_block(incident_id)
        self._record(
            ConnectionBlocked(
                **self._ids(), reason=reason, incident_id=incident_id, decided_by=decided_by,
                note=note, request_id=request_id,
            )
        )

    def block_by_policy(self, *, reason: BlockReason, incident_id: str, decided_by: Actor, request_id: str) -> bool:
        """The policy's block: once per connection and incident, a no-op afterwards."""
        if incident_id in self.blocked_by_ever:
            return False
        self.block(reason=reason, incident_id=incident_id, decided_by=decided_by, request_id=request_id)
        return True

    def release(self, incident_id: str) -> bool:
        """The incident was cleared: its hold ends (no-op when it holds nothing)."""
        if incident_id not in self.holds:
            return False
        still = sorted(i for i in self.holds if i != incident_id)
        self._record(BlockReleased(**self._ids(), incident_id=incident_id, still_blocking=still))
        return True

    def approve(self, *, party: Party, decided_by: Actor, note: str, request_id: str) -> bool:
        """One party approves reconnection; the second approval reconnects. Returns whether it did."""
        if self.holds:
            raise Conflict(
                "reconnection needs every blocking incident cleared first; still open: "
                + ", ".join(sorted(self.holds))
            )
        if not self.awaiting:
            raise Conflict(f"connection {self.id} is not blocked: there is nothing to approve")
        if self.compromised:
            raise Conflict(
                "the connection's credentials were leaked (incident "
                + ", ".join(sorted(self.compromised_by))
                + "): rotate its secrets before approving reconnection"
            )
        if party in self.approvals:
            raise Conflict(f"the {party} side has already approved reconnection since the last clearing")
        self._record(ReconnectionApproved(**self._ids(), party=party, decided_by=decided_by, note=note))
        if {"utility", "operator"} <= set(self.approvals):
            self._record(ConnectionReconnected(**self._ids(), request_id=request_id))
            return True
        return False

    # ------------------------------------------------------------------ helpers

    def _ids(self) -> dict[str, str]:
        return {"connection_id": self.id, "operator_id": self.operator_id}

    def _refuse_repeat_block(self, incident_id: str) -> None:
        if incident_id in self.holds:
            raise Conflict(f"connection {self.id} is already blocked for incident {incident_id}")
        if incident_id in self.blocked_by_ever:
            raise Conflict(f"incident {incident_id} already blocked connection {self.id} and was cleared")

    # ------------------------------------------------------------------ state changes

    def _apply(self, event: DomainEvent) -> None:
        handler = getattr(self, f"_on_{type(event).__name__}", None)
        if handler is not None:
            handler(event)

    def _on_ConnectionRegistered(self, e: ConnectionRegistered) -> None:
        self.operator_id, self.kind, self.maker, self.model = e.operator_id, e.kind, e.maker, e.model
        self.firmware, self.smart_meter_ids, self.secrets = e.firmware, list(e.smart_meter_ids), e.secrets

    def _on_ConnectionBlocked(self, e: ConnectionBlocked) -> None:
        self.holds[e.incident_id] = Hold(e.incident_id, e.reason, e.decided_by, e.request_id)
        remember(self.blocked_by_ever, e.incident_id)
        self.approvals.clear()
        self.awaiting = True
        if e.recommendation_id in self.recommendations:
            self.recommendations[e.recommendation_id].status = "confirmed"
            keep_recent(self.recommendations)
        self.requests[e.request_id] = EnforcementRequest(e.request_id, "block", e.incident_id)

    def _on_BlockReleased(self, e: BlockReleased) -> None:
        self.holds.pop(e.incident_id, None)

    def _on_ReconnectionApproved(self, e: ReconnectionApproved) -> None:
        self.approvals[e.party] = e

    def _on_ConnectionReconnected(self, e: ConnectionReconnected) -> None:
        self.approvals.clear()
        self.awaiting = False
        self.requests[e.request_id] = EnforcementRequest(e.request_id, "reconnect")
