"""Composition root of the audit service: the log consumer, checkpoints, the HTTP routes, and its read model."""

from __future__ import annotations

from fastapi import FastAPI

from services.audit.adapters.checkpoints import SqliteCheckpointStore
from services.audit.adapters.consumer import AuditConsumer
from services.audit.adapters.keys import load_signing_key
from services.audit.application.ports import CheckpointStore
from services.audit.application.service import AuditService
from services.audit.config import AuditSettings, checkpoint_db_path, log_db_path
from services.audit.entrypoints.api import router
from services.audit.projections.log import AuditLog
from services.audit.projections.readmodel import LiveAuditLog, ScratchAuditLog
from shared.clock import Clock, utcnow
from shared.config import Settings
from shared.periodic import Periodic
from shared.replay import ReadModels
from shared.runtime import Runtime
from shared.service import create_app
from shared.topics import EVENT_TOPICS

# Replay appends the raw records of every event topic to a scratch log, as the consumer does live.
READ_MODELS = ReadModels(service="audit", topics=EVENT_TOPICS, scratch=lambda _settings: ScratchAuditLog())


def build_service(
    settings: Settings, audit_settings: AuditSettings, *, checkpoints: CheckpointStore | None = None, clock: Clock = utcnow
) -> AuditService:
    """The use cases over the service's files; ``checkpoints`` replaces the checkpoint file (tests pass a fake)."""
    key = load_signing_key(audit_settings.audit_signing_key, settings.data_dir)
    kept = checkpoints if checkpoints is not None else SqliteCheckpointStore(checkpoint_db_path(settings))
    return AuditService(AuditLog(log_db_path(settings)), kept, key, clock=clock)


def build_app(settings: Settings, audit_settings: AuditSettings | None = None) -> FastAPI:
    """The audit service's app."""
    audit_settings = audit_settings or AuditSettings()
    audit = build_service(settings, audit_settings)
    runtime = Runtime(settings, service="audit")
    consumer = AuditConsumer(settings, audit.log)
    runtime.watch(consumer)
    # A signed tree head every interval, when something was logged since the last one.
    runtime.add(Periodic("audit-checkpoints", audit.checkpoint, interval=audit_settings.audit_checkpoint_seconds))
    if audit_settings.audit_verify_seconds:  # the result is smguard_audit_verification_ok on /metrics
        runtime.add(Periodic("audit-verify", audit.verify, interval=audit_settings.audit_verify_seconds))
    runtime.expose(LiveAuditLog(audit.log))
    app = create_app(
        runtime,
        audit,
        title="smguard audit",
        description="Every event of every service in a tamper-evident Merkle log (RFC 6962), with proofs and dossiers.",
        routers=[router],
    )
    return app
