"""Events of the connection service: connections, blocks, reconnection, enforcement, policy."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from shared import topics
from shared.events.base import DomainEvent
from shared.events.values import Actor, BlockReason, OperatorAssetKind, Party, PolicyMode, Value


LEGACY_KEY_ID = "legacy"
"""The key of secrets sealed before keys had ids."""


class SealedSecrets(Value):
    """Connection secrets as they may travel: ciphertext, a keyed fingerprint, masked hints, the sealing key's id."""

    ciphertext: str
    fingerprint: str
    hints: dict[str, str]
    key_id: str | None = None

    @property
    def sealed_with(self) -> str:
        """The id of the key that sealed them (``legacy`` before keys had ids)."""
        return self.key_id or LEGACY_KEY_ID


class ConnectionEvent(DomainEvent):
    """Base of the connection aggregate's events (topic ``smguard.connection.events``)."""

    connection_id: str
    operator_id: str


class ConnectionRegistered(ConnectionEvent):
    """Operator equipment was attached to the SM system."""

    topic: ClassVar[str] = topics.CONNECTION_EVENTS
    kind: OperatorAssetKind
    maker: str
    model: str
    firmware: str
    smart_meter_ids: list[str] = []
    secrets: SealedSecrets


class SecretsRotated(ConnectionEvent):
    """The connection's secrets were replaced."""

    topic: ClassVar[str] = topics.CONNECTION_EVENTS
    secrets: SealedSecrets


class SecretsResealed(ConnectionEvent):
    """The connection's current secrets were sealed again with the newest key (the secrets themselves are unchanged)."""

    topic: ClassVar[str] = topics.CONNECTION_EVENTS
    previous_key_id: str
    secrets: SealedSecrets


class CredentialsCompromised(ConnectionEvent):
    """A credential-leak incident marks the connection's secrets as compromised."""

    topic: ClassVar[str] = topics.CONNECTION_EVENTS
    incident_id: str


class BlockRecommended(ConnectionEvent):
    """The block policy says ``recommend``: an analyst must confirm or reject."""

    topic: ClassVar[str] = topics.CONNECTION_EVENTS
    recommendation_id: str
    reason: BlockReason
    incident_id: str


class BlockRecommendationRejected(ConnectionEvent):
    """An analyst rejected a block recommendation."""

    topic: ClassVar[str] = topics.CONNECTION_EVENTS
    recommendation_id: str
    note: str = ""
    decided_by: Actor


class ConnectionBlocked(ConnectionEvent):
    """The utility blocked the connection for an incident; says which person or policy decided."""

    topic: ClassVar[str] = topics.CONNECTION_EVENTS
    reason: BlockReason
    incident_id: str
    decided_by: Actor
    note: str = ""
    recommendation_id: str | None = None
    request_id: str


class BlockEnforced(ConnectionEvent):
    """The network access control acknowledged the block."""

    topic: ClassVar[str] = topics.CONNECTION_EVENTS
    request_id: str
    enforced_at: datetime


class BlockEnforcementFailed(ConnectionEvent):
    """An enforcement attempt failed (it is retried; ``escalated`` when out of time)."""

    topic: ClassVar[str] = topics.CONNECTION_EVENTS
    request_id: str
    action: Literal["block", "reconnect"] = "block"
    attempt: int
    error: str
    escalated: bool = False


class BlockReleased(ConnectionEvent):
    """An incident that blocked the connection was cleared."""

    topic: ClassVar[str] = topics.CONNECTION_EVENTS
    incident_id: str
    still_blocking: list[str] = []


class ReconnectionApproved(ConnectionEvent):
    """One party approved reconnection after the last clearing."""

    topic: ClassVar[str] = topics.CONNECTION_EVENTS
    party: Party
    decided_by: Actor
    note: str = ""


class ConnectionReconnected(ConnectionEvent):
    """Both parties approved: the connection is back."""

    topic: ClassVar[str] = topics.CONNECTION_EVENTS
    request_id: str


class ReconnectEnforced(ConnectionEvent):
    """The network access control acknowledged the reconnection."""

    topic: ClassVar[str] = topics.CONNECTION_EVENTS
    request_id: str
    enforced_at: datetime


class BlockPolicyChanged(DomainEvent):
    """The utility set its block policy (topic ``smguard.policy.events``, key ``block-policy``)."""

    topic: ClassVar[str] = topics.POLICY_EVENTS
    policy: dict[BlockReason, PolicyMode]
    decided_by: Actor


class EnforcementEscalated(ConnectionEvent):
    """An enforcement request was not acknowledged in time."""

    topic: ClassVar[str] = topics.CONNECTION_EVENTS
    request_id: str
    action: Literal["block", "reconnect"]
    waited_seconds: float


APPROVING_PARTIES: tuple[Party, Party] = ("utility", "operator")
