"""The services of smguard, by name: the one list every tool starts, replays or reaches."""

from __future__ import annotations

import importlib
from types import ModuleType

SERVICES: tuple[str, ...] = ("incident", "connection", "notification", "audit")
CONSOLE = "console"
PROCESSES: tuple[str, ...] = (*SERVICES, CONSOLE)
"""Every process ``smguard run`` starts: the four services, and the web console that reads through their APIs
(it owns no aggregates and no read model, so replay and the audit log know nothing of it)."""
CONTAINMENT: tuple[str, ...] = ("incident", "connection")
"""The services on the path anomaly → block → enforcement request; the others (notifications, the audit log)
are side work that must not slow it: on one machine they run at a lower CPU priority (``shared.processes``)."""


def bootstrap(service: str) -> ModuleType:
    """A service's composition root (``build_app``, and ``READ_MODELS`` for the four services), imported when asked for."""
    if service not in PROCESSES:
        raise ValueError(f"unknown service {service!r}; one of {', '.join(PROCESSES)}")
    return importlib.import_module(f"services.{service}.bootstrap")
