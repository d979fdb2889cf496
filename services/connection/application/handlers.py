"""Command handlers: load the aggregate from the store, let it decide, append, update the directory."""

from __future__ import annotations

from datetime import date, datetime
from typing import Callable, TypeVar

from services.connection.application.ports import PlainSecrets, SecretSealer
from services.connection.domain.connection import Connection
from services.connection.domain.operator import Operator
from services.connection.domain.policy import POLICY_ID, BlockPolicy
from services.connection.projections.directory import Directory
from shared.domain import Aggregate, Invalid
from shared.envelope import new_id
from shared.events import DomainEvent
from shared.eventstore import AppendResult, Context, EventStore
from shared.events.connection import ConnectionBlocked, ConnectionReconnected
from shared.events.values import Actor, BlockReason, Party
from shared.domain import not_found

T = TypeVar("T")
A = TypeVar("A", bound=Aggregate)
RequestListener = Callable[[str, str], None]


class ConnectionHandlers:
    """One method per command; every change goes through the event store."""

    def __init__(self, *, store: EventStore, directory: Directory, sealer: SecretSealer) -> None:
        self.store, self.directory, self.sealer = store, directory, sealer
        self.listeners: list[RequestListener] = []

    # ------------------------------------------------------------------ plumbing

    def load(self, cls: type[A], aggregate_id: str) -> A:
        """The aggregate as its stored events left it."""
        return cls.rehydrate(aggregate_id, [e.event for e in self.store.load(aggregate_id)])

    async def save(
        self, aggregate: Aggregate, *, context: Context, idempotency_key: str | None = None
    ) -> AppendResult | None:
        """Append what the aggregate decided (nothing when it decided nothing)."""
        events = aggregate.take_pending()
        if not events:
            return None
        return await self.commit(
            aggregate.id, events, expected_version=aggregate.version, idempotency_key=idempotency_key, context=context
        )

    async def commit(
        self,
        aggregate_id: str,
        events: list[DomainEvent],
        *,
        expected_version: int,
        idempotency_key: str | None,
        context: Context,
    ) -> AppendResult:
        """Append decided events; once committed, update the directory and start enforcement."""
        result = await self.store.append(
            aggregate_id, events, expected_version=expected_version, idempotency_key=idempotency_key, context=context
        )
        self._after(aggregate_id, result)
        return result

    def _after(self, aggregate_id: str, result: AppendResult) -> None:
        if result.envelopes[0].event.topic != ConnectionBlocked.topic:
            if not result.replayed:
                for envelope in result.envelopes:
                    self.directory.note(envelope)
            return
        self.directory.sync(aggregate_id)
        for envelope in result.envelopes:
            if isinstance(envelope.event, (ConnectionBlocked, ConnectionReconnected)) and not result.replayed:
                for listener in self.listeners:
                    listener(aggregate_id, envelope.event.request_id)

    def connection(self, connection_id: str) -> Connection:
        """A registered connection, or 404."""
        connection = self.load(Connection, connection_id)
        if not connection.exists:
            raise not_found("connection", connection_id)
        return connection

    async def change(
        self,
        connection_id: str,
        decide: Callable[[Connection], T],
        *,
        context: Context,
        idempotency_key: str | None = None,
    ) -> T:
        """Load, decide, append: the shape of every connection command."""
        connection = self.connection(connection_id)
        outcome = decide(connection)
        await self.save(connection, context=context, idempotency_key=idempotency_key)
        return outcome

    # ------------------------------------------------------------------ operators and policy

    async def onboard_operator(
        self, operator_id: str, *, name: str, agreement_date: date, context: Context, idempotency_key: str | None
    ) -> None:
        """Onboard an operator (409 when it already is)."""
        operator = self.load(Operator, operator_id)
        operator.onboard(name=name, agreement_date=agreement_date)
        await self.save(operator, context=context, idempotency_key=idempotency_key)

    async def change_policy(self, changes: dict[str, str], *, decided_by: Actor, context: Context) -> dict[str, str]:
        """Set some or all modes of the block policy; returns the whole policy."""
        policy = self.load(BlockPolicy, POLICY_ID)
        policy.change(changes, decided_by=decided_by)
        await self.save(policy, context=context)
        return dict(policy.modes)

    def policy(self) -> dict[str, str]:
        """The policy in force."""
        return dict(self.load(BlockPolicy, POLICY_ID).modes)

    # ------------------------------------------------------------------ connections

    async def register_connection(
        self,
        *,
        operator_id: str,
        kind: str,
        maker: str,
        model: str,
        firmware: str,
        smart_meter_ids: list[str],
        secrets: PlainSecrets,
        context: Context,
        idempotency_key: str | None = None,
    ) -> str:
        """Register operator equipment (only for an onboarded operator); returns its id."""
        if not self.load(Operator, operator_id).onboarded:
            raise Invalid(f"operator {operator_id} is not onboarded: the utility onboards it first")
        connection = Connection.register(
            f"conn-{new_id()}",
            operator_id=operator_id,
            kind=kind,
            maker=maker,
            model=model,
            firmware=firmware,
            smart_meter_ids=smart_meter_ids,
            secrets=self.sealer.seal(secrets),
        )
        result = await self.save(connection, context=context, idempotency_key=idempotency_key)
        assert result is not None
        return result.envelopes[0].subject

    async def rotate_secrets(self, connection_id: str, secrets: PlainSecrets, *, context: Context) -> None:
        """Replace the secrets (ends a compromise)."""
        sealed = self.sealer.seal(secrets)
        await self.change(connection_id, lambda c: c.rotate_secrets(sealed), context=context)

    async def block(
        self,
        connection_id: str,
        *,
        reason: BlockReason,
        incident_id: str,
        note: str,
        decided_by: Actor,
        context: Context,
        idempotency_key: str | None = None,
    ) -> str:
        """An analyst blocks the connection for an incident; returns the enforcement request id."""
        request_id = new_id()

        def decide(c: Connection) -> None:
            c.block(reason=reason, incident_id=incident_id, decided_by=decided_by, request_id=request_id, note=note)

        await self.change(connection_id, decide, context=context, idempotency_key=idempotency_key)
        return request_id

    def recommendation_owner(self, recommendation_id: str) -> str:
        """The connection a recommendation is about, or 404."""
        connection_id = self.directory.recommendations.get(recommendation_id)
        if connection_id is None:
            raise not_found("block recommendation", recommendation_id)
        return connection_id

    async def confirm(self, recommendation_id: str, *, decided_by: Actor, note: str, context: Context) -> str:
        """Confirm a recommendation: the connection is blocked; returns the connection id."""
        connection_id = self.recommendation_owner(recommendation_id)
        request_id = new_id()
        await self.change(
            connection_id,
            lambda c: c.confirm_recommendation(recommendation_id, decided_by=decided_by, request_id=request_id, note=note),
            context=context,
        )
        return connection_id

    async def reject(self, recommendation_id: str, *, decided_by: Actor, note: str, context: Context) -> str:
        """Reject a recommendation; returns the connection id."""
        connection_id = self.recommendation_owner(recommendation_id)
        await self.change(
            connection_id,
            lambda c: c.reject_recommendation(recommendation_id, decided_by=decided_by, note=note),
            context=context,
        )
        return connection_id

    async def approve(
        self,
        connection_id: str,
        *,
        party: Party,
        decided_by: Actor,
        note: str,
        context: Context,
        idempotency_key: str | None = None,
    ) -> bool:
        """One party approves reconnection; True when this approval reconnected it."""
        request_id = new_id()
        return await self.change(
            connection_id,
            lambda c: c.approve(party=party, decided_by=decided_by, note=note, request_id=request_id),
            context=context,
            idempotency_key=idempotency_key,
        )

    # ------------------------------------------------------------------ enforcement records

    async def record_enforced(self, connection_id: str, request_id: str, *, at: datetime) -> None:
        """The peer acknowledged a request."""
        await self.change(
            connection_id, lambda c: c.enforced(request_id, at=at), context=self._system(connection_id),
            idempotency_key=f"connection:enforced:{request_id}",
        )

    async def record_failure(self, connection_id: str, request_id: str, *, error: str) -> None:
        """An attempt failed."""
        await self.change(
            connection_id, lambda c: c.enforcement_failed(request_id, error=error), context=self._system(connection_id)
        )

    async def escalate(self, connection_id: str, request_id: str, *, waited_seconds: float) -> None:
        """A request is overdue."""
        await self.change(
            connection_id, lambda c: c.escalate(request_id, waited_seconds=waited_seconds),
            context=self._system(connection_id), idempotency_key=f"connection:escalated:{request_id}",
        )

    def _system(self, connection_id: str) -> Context:
        view = self.directory.connections.get(connection_id)
        return Context(actor="smguard/connection:enforcement", operator_id=view.connection.operator_id if view else None)
