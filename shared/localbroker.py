"""Access to the local Kafka broker tool (infra/kafka/broker.py), which is stdlib-only and not a package."""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from types import ModuleType

from shared.config import REPO_ROOT

BROKER_PY = REPO_ROOT / "infra" / "kafka" / "broker.py"


@lru_cache
def broker_module() -> ModuleType:
    """The infra/kafka/broker.py module (LocalBroker, ensure_jars, errors)."""
    spec = importlib.util.spec_from_file_location("smguard_local_broker", BROKER_PY)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {BROKER_PY}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
