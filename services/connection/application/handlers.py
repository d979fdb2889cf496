"""One async function per command on operators, the block policy and connections: load, decide, stage, commit.

Each runs on the instance that owns the aggregate's partition (``Repository`` raises NotOwner
elsewhere; the HTTP edge forwards the request to the owner). Answers are derived from the saved
events, so a retried idempotency key answers as the first call did. The enforcement worker hears
of a block or a reconnection only once it is committed (``EventStore.on_commit``), never before.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

from services.connection.application.ports import PlainSecrets
from services.connection.application.queries import owned_connection, recommendation_owner
from services.connection.application.service import ConnectionService
from services.connection.domain.commands import BlockConnection, OnboardOperator, RegisterConnection
from services.connection.domain.model import Connection
from services.connection.domain.policy import DEFAULT_POLICY, POLICY_ID
from services.connection.projections.incidents import incident
from services.connection.projections.operators import operator
from shared.domain import Conflict, Invalid
from shared.envelope import new_id
from shared.events.connection import BlockPolicyChanged
from shared.events.values import Actor
from shared.eventstore import Context
from shared.principal import Principal
from shared.repository import Saved

ONBOARDING_SEEN_WITHIN = 1.0
"""Seconds a registration waits for the read models to show an onboarding they do not show yet."""


def person(principal: Principal) -> Actor:
    """The caller as the events name who decided."""
    return Actor(kind="person", id=principal.sub, role=principal.role)


def for_tenant(context: Context) -> Callable[[Connection], Context]:
    """The request's context, for the tenant the connection belongs to."""
    return lambda connection: replace(context, operator_id=connection.operator_id)


async def onboard_operator(
    service: ConnectionService, cmd: OnboardOperator, *, context: Context, key: str | None = None
) -> Saved:
    """Onboard an operator with its agreement date (409 when it already is)."""
    return await service.operators.change(
        cmd.operator_id, lambda operator: operator.onboard(name=cmd.name, agreement_date=cmd.agreement_date),
        context=context, idempotency_key=key, or_create=True,
    )  # fmt: skip


async def change_policy(
    service: ConnectionService, changes: dict[str, str], *, by: Principal, context: Context,
    expected_version: int | None = None,
) -> tuple[Saved, dict[str, str]]:
    """Set some or all modes of the block policy (on the owner of its partition); the whole resulting policy."""
    decide = lambda policy: policy.change(changes, decided_by=person(by))  # noqa: E731
    saved = await service.policies.change(POLICY_ID, decide, context=context, expected_version=expected_version)
    changed = saved.first(BlockPolicyChanged)
    assert changed is not None  # a change always records the whole policy
    return saved, {**DEFAULT_POLICY, **changed.policy}


async def register_connection(
    service: ConnectionService, cmd: RegisterConnection, secrets: PlainSecrets, *, by: Principal, context: Context,
    key: str | None = None,
) -> Saved:
    """Register operator equipment of an onboarded operator (an operator for itself, the utility naming one)."""
    operator_id = by.acts_for(cmd.operator_id)
    if operator_id is None:
        raise Invalid("operator_id is required when the utility registers a connection")
    if not await onboarded(service, operator_id):
        raise Invalid(f"operator {operator_id} is not onboarded: the utility onboards it first")
    sealed = service.sealer.seal(secrets)

    def registered(connection_id: str) -> Connection:
        return Connection.register(
            connection_id, operator_id=operator_id, kind=cmd.kind, maker=cmd.maker, model=cmd.model,
            firmware=cmd.firmware, smart_meter_ids=list(cmd.smart_meter_ids), secrets=sealed,
        )  # fmt: skip

    return await service.connections.create(registered, context=for_tenant(context), idempotency_key=key, prefix="conn-")


async def onboarded(service: ConnectionService, operator_id: str) -> bool:
    """Whether the read models know the operator as onboarded — waiting a moment for them when they do not yet
    (it may have been onboarded on another instance an instant ago)."""
    known = lambda docs: operator(docs, operator_id) is not None  # noqa: E731
    return known(service.views.docs) or await service.views.wait_for(known, timeout=ONBOARDING_SEEN_WITHIN)


async def rotate_secrets(
    service: ConnectionService, connection_id: str, secrets: PlainSecrets, *, by: Principal, context: Context,
    expected_version: int | None = None,
) -> Saved:
    """Replace a connection's secrets (its operator or the SOC); this ends a compromise."""
    owned_connection(service, by, connection_id)
    sealed = service.sealer.seal(secrets)
    return await service.connections.change(
        connection_id, lambda c: c.rotate_secrets(sealed), context=for_tenant(context), expected_version=expected_version
    )


async def block_connection(
    service: ConnectionService, connection_id: str, cmd: BlockConnection, *, by: Principal, context: Context,
    expected_version: int | None = None, key: str | None = None,
) -> Saved:
    """An analyst blocks a connection for an open incident (several incidents may block one connection)."""
    owned_connection(service, by, connection_id)
    request_id = new_id()

    def decide(c: Connection) -> None:
        ensure_open(service, cmd.incident_id)
        c.block(reason=cmd.reason, incident_id=cmd.incident_id, decided_by=person(by), request_id=request_id, note=cmd.note)

    return await service.connections.change(
        connection_id, decide, context=for_tenant(context), expected_version=expected_version, idempotency_key=key
    )


async def confirm_recommendation(
    service: ConnectionService, recommendation_id: str, *, note: str, by: Principal, context: Context,
    expected_version: int | None = None,
) -> Saved:
    """An analyst confirms: the connection is blocked for the recommendation's incident, while it is open."""
    request_id = new_id()

    def decide(c: Connection) -> None:
        if recommendation_id in c.recommendations:
            ensure_open(service, c.recommendations[recommendation_id].incident_id)
        c.confirm_recommendation(recommendation_id, decided_by=person(by), request_id=request_id, note=note)

    connection_id = recommendation_owner(service, recommendation_id)
    return await service.connections.change(
        connection_id, decide, context=for_tenant(context), expected_version=expected_version
    )


async def reject_recommendation(
    service: ConnectionService, recommendation_id: str, *, note: str, by: Principal, context: Context,
    expected_version: int | None = None,
) -> Saved:
    """An analyst rejects a recommendation: nothing is blocked."""
    decide = lambda c: c.reject_recommendation(recommendation_id, decided_by=person(by), note=note)  # noqa: E731
    connection_id = recommendation_owner(service, recommendation_id)
    return await service.connections.change(
        connection_id, decide, context=for_tenant(context), expected_version=expected_version
    )


def ensure_open(service: ConnectionService, incident_id: str) -> None:
    """The one rule for blocking by a person: the incident is known here (422) and not cleared (409)."""
    known = incident(service.views.docs, incident_id)
    if known is None:
        raise Invalid(f"incident {incident_id} is not known to this service (yet)")
    if known["status"] == "cleared":
        raise Conflict(f"incident {incident_id} is already cleared: it cannot block")


async def approve_reconnection(
    service: ConnectionService, connection_id: str, *, note: str, by: Principal, context: Context,
    expected_version: int | None = None, key: str | None = None,
) -> Saved:
    """The caller's side approves reconnection; the second side's approval reconnects."""
    owned_connection(service, by, connection_id)
    request_id = new_id()
    decide = lambda c: c.approve(party=by.party, decided_by=person(by), note=note, request_id=request_id)  # noqa: E731
    return await service.connections.change(
        connection_id, decide, context=for_tenant(context), expected_version=expected_version, idempotency_key=key
    )
