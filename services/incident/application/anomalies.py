"""Anomaly signals, from the sensors' inbox or ``POST /anomalies``: decided in order, each recorded once.

A signal is recognised again by its marker (``signal:<id>``, kept for the store's key window): the
answer the store kept for it names the incident it went to. The connection's open incident is found
by the ``connection`` index; a new one gets an id on the connection's partition, which is the
partition of the sensor record and so one this instance owns.

Each decided signal is its own append (the store keeps an append's answer under each of its keys:
one append for a thousand signals would keep a thousand copies of a thousand events). Appends are
staged as they are decided, with no ``await`` in between, and committed together by the partition's
writer (group commit).
"""

from __future__ import annotations

from shared.domain import Invalid
from shared.eventstore import Context, EventStore, InboxRecord, Staged
from services.incident.application.handlers import committed, for_incidents_tenant
from services.incident.application.service import IncidentService
from services.incident.domain.anomalies import AnomalyBatch, AnomalyIndex, Outcome
from services.incident.domain.commands import Anomaly
from services.incident.domain.values import signal_marker


async def record_anomaly(svc: IncidentService, anomaly: Anomaly, *, context: Context) -> Outcome:
    """One signal over HTTP, decided by the instance that owns its connection; an unknown connection is Invalid."""
    svc.store.require_owner(anomaly.connection_id)  # another instance's connection: the HTTP edge forwards it
    [outcome] = await handle_anomalies(svc, [anomaly], context=context)
    if outcome.refused:
        raise Invalid(outcome.refused)
    return outcome


async def handle_anomalies(
    svc: IncidentService, anomalies: list[Anomaly], *, context: Context, inbox: InboxRecord | None = None
) -> list[Outcome]:
    """Decide signals of connections this instance owns, in order; ``inbox``: the record whose offset commits with them.

    The incidents earlier signals went to are looked up first (waiting for an answer being
    committed); if another decision staged one of these signals meanwhile, they are looked up again,
    so a signal is never recorded twice.
    """
    while True:
        earlier = await _earlier_signals(svc.store, anomalies)
        if not any(a.signal_id not in earlier and svc.store.seen(signal_marker(a.signal_id)) for a in anomalies):
            outcomes, staged = _decide(svc, anomalies, earlier, context=context, inbox=inbox)
            await committed(staged)
            return outcomes


async def _earlier_signals(store: EventStore, anomalies: list[Anomaly]) -> dict[str, str]:
    """Signal id → the incident it went to, for the signals recorded before (within the key window)."""
    found: dict[str, str] = {}
    for anomaly in anomalies:
        key = signal_marker(anomaly.signal_id)
        if anomaly.signal_id not in found and store.seen(key):
            answer = await store.answer(key)
            if answer is not None:
                found[anomaly.signal_id] = answer.envelopes[0].subject
    return found


def _decide(
    svc: IncidentService, anomalies: list[Anomaly], earlier: dict[str, str], *, context: Context, inbox: InboxRecord | None
) -> tuple[list[Outcome], list[Staged | None]]:
    """Decide and stage every signal (no ``await``: nothing else decides meanwhile); the inbox record goes
    with the last signal's append, or alone when that signal decided nothing (after the others: one writer
    per partition commits in order, so the offset never commits before the decisions)."""
    connections = {a.connection_id for a in anomalies}
    open_by_connection = {c: found[0] for c in connections if (found := svc.store.find("connection", c))}
    batch = AnomalyBatch(
        AnomalyIndex(earlier, open_by_connection), connections=svc.directory.connection, load=svc.repo.load,
        new_id=lambda connection_id: svc.repo.new_id(near=connection_id),
    )  # fmt: skip
    tenant, outcomes, staged, carried = for_incidents_tenant(context), [], [], False
    for n, anomaly in enumerate(anomalies, start=1):
        outcome, incident = batch.decide(anomaly)
        outcomes.append(outcome)
        if incident is not None:
            carried = inbox is not None and n == len(anomalies)
            staged.append(svc.repo.stage(incident, context=tenant, inbox=inbox if carried else None))
    if inbox is not None and not carried:
        staged.append(svc.store.consumed(inbox))
    return outcomes, staged
