"""Composition root of the audit service: the log consumer, checkpoints, and the HTTP routes."""

from __future__ import annotations

import asyncio
import logging

from fastapi import FastAPI

from services.audit.adapters.checkpoints import CheckpointStore
from services.audit.adapters.consumer import AuditConsumer
from services.audit.adapters.keys import load_signing_key
from services.audit.application.log import AuditLog
from services.audit.application.service import AuditService
from services.audit.config import AuditSettings, audit_dir, checkpoint_db_path, log_db_path
from services.audit.entrypoints.api import ops_router, router
from shared.config import Settings
from shared.periodic import Periodic
from shared.runtime import Runtime
from shared.service import create_app

log = logging.getLogger(__name__)


def build_app(settings: Settings, audit_settings: AuditSettings | None = None) -> FastAPI:
    """The audit service's app."""
    audit_settings = audit_settings or AuditSettings()
    key = load_signing_key(audit_settings.audit_signing_key, audit_dir(settings))
    audit = AuditService(AuditLog(log_db_path(settings)), CheckpointStore(checkpoint_db_path(settings)), key)
    runtime = Runtime(settings, service="audit")
    consumer = AuditConsumer(settings, audit.log)
    runtime.add(consumer)
    runtime.subscribers.append(consumer)  # type: ignore[arg-type]  # readiness and /ops/parked see it
    # A signed tree head every interval, when something was logged since the last one.
    runtime.add(Periodic("audit-checkpoints", audit.checkpoint, interval=audit_settings.audit_checkpoint_seconds))
    app = create_app(
        runtime,
        title="smguard audit",
        description="Every event of every service in a tamper-evident Merkle log (RFC 6962), with proofs and dossiers.",
        routers=[router, ops_router],
    )
    app.state.audit = audit
    return app
