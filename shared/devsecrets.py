"""Development secrets: generated once into the data folder when none is configured, never in the repository.

Every key a service needs on a laptop comes from here, under one file name per secret, so two
processes that need the same secret (the connection service signing enforcement requests, the
HES stand-in of ``smguard run`` checking them) always read the same file.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Callable

JWT_SIGNING_KEY = "dev-signing-key"
ENFORCEMENT_SECRET = "dev-enforcement-secret"
CONNECTION_SECRETS_KEY = "connection-secrets.key"
AUDIT_SIGNING_KEY = "audit/dev-audit-signing-key.pem"


def random_text() -> bytes:
    """A fresh random secret as URL-safe text (256 bits)."""
    return secrets.token_urlsafe(32).encode()


def dev_secret(data_dir: Path, name: str, *, generate: Callable[[], bytes] = random_text) -> bytes:
    """The secret kept in ``data_dir/name``, generated (owner-only file) on first use."""
    path = data_dir / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(generate())
        path.chmod(0o600)
    return path.read_bytes().strip()


def configured_or_dev(configured: str | None, data_dir: Path, name: str, *, generate: Callable[[], bytes] = random_text) -> bytes:
    """The configured secret, else the development one kept in the data folder."""
    if configured:
        return configured.encode()
    return dev_secret(data_dir, name, generate=generate)
