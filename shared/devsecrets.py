"""Development secrets: generated once into the data folder when none is configured, never in the repository.

Every key a service needs on a laptop comes from here, under one file name per secret, so two
processes that need the same secret (the connection service signing enforcement requests, the
HES stand-in of ``smguard run`` checking them) always read the same file.
"""

from __future__ import annotations

import os
import secrets
import stat
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
    """The secret kept in ``data_dir/name``, generated on first use into an owner-only (0600) file.

    The file appears whole or not at all: the secret is written and synced under a temporary name in
    the same folder, then linked to its name, which fails if another process got there first — so
    processes starting together all end up with the first one's secret, and none ever reads a partial
    or world-readable file.
    """
    path = data_dir / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        _create_once(path, generate())
    _tighten(path)
    return path.read_bytes().strip()


def _create_once(path: Path, secret: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(8)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        try:
            view = memoryview(secret)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(temporary, path)  # never replaces: the first secret linked is everyone's
        except FileExistsError:
            return
        _sync_folder(path.parent)
    finally:
        temporary.unlink(missing_ok=True)


def _sync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _tighten(path: Path) -> None:
    """A secret file that others may read (one written by an older version) becomes owner-only."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        try:
            path.chmod(mode & 0o700)
        except OSError:  # not ours to change (a mounted or read-only secret): read it as it is
            pass


def configured_or_dev(configured: str | None, data_dir: Path, name: str, *, generate: Callable[[], bytes] = random_text) -> bytes:
    """The configured secret, else the development one kept in the data folder."""
    if configured:
        return configured.encode()
    return dev_secret(data_dir, name, generate=generate)
