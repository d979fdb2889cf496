"""The services of smguard, by name: the one list every tool starts, replays or reaches."""

from __future__ import annotations

import importlib
from types import ModuleType

SERVICES: tuple[str, ...] = ("incident", "connection", "notification", "audit")
CONTAINMENT: tuple[str, ...] = ("incident", "connection")
"""The services on the path anomaly → block → enforcement request; the others (notifications, the audit log)
are side work that must not slow it: on one machine they run at a lower CPU priority (``shared.processes``)."""


def bootstrap(service: str) -> ModuleType:
    """A service's composition root (``build_app``, ``READ_MODELS``), imported when asked for."""
    if service not in SERVICES:
        raise ValueError(f"unknown service {service!r}; one of {', '.join(SERVICES)}")
    return importlib.import_module(f"services.{service}.bootstrap")
