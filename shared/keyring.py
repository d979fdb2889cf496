"""A key ring kept as files in one folder: ``<key id>.key`` each (owner-only), the newest id seals, every key opens.

Key ids are ``k<UTC time>-<random>``, so they sort by age and the newest is the one that seals. A
key is added by writing a new file (through ``shared.devsecrets``) and retired by removing it; a
running service sees either at its next look (``KeyFolder.version`` changes with the folder).
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from shared import devsecrets

CONNECTION_KEYS = "connection-keys"
"""The connection service's key folder under the data folder, unless ``SMGUARD_CONNECTION_SECRETS_KEYRING`` says."""
FIRST_KEY_ID = "k00000000T000000Z-000000"
"""The id of the key a ring starts with: fixed, so instances starting together make one key, not several."""
KEY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
SUFFIX = ".key"


def new_key_id(now: datetime | None = None) -> str:
    """A fresh id that sorts after every earlier one (UTC time, then a random tie-breaker)."""
    return f"k{(now or datetime.now(timezone.utc)).strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"


class KeyFolder:
    """The folder of a key ring: which keys it holds, newest first; adding and removing one."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def version(self) -> int:
        """Changes whenever a key file is added or removed (the folder's modification time; 0 when absent)."""
        try:
            return self.folder.stat().st_mtime_ns
        except FileNotFoundError:
            return 0

    def keys(self) -> list[tuple[str, bytes]]:
        """(key id, key) of every key file, newest id first."""
        if not self.folder.is_dir():
            return []
        found = [p for p in self.folder.iterdir() if p.name.endswith(SUFFIX) and KEY_ID.match(p.name[: -len(SUFFIX)])]
        return [(p.name[: -len(SUFFIX)], p.read_bytes().strip()) for p in sorted(found, key=lambda p: p.name, reverse=True)]

    def add(self, generate: Callable[[], bytes], *, now: datetime | None = None) -> str:
        """Write a new key (owner-only) and return its id; it seals from now on."""
        key_id = new_key_id(now)
        devsecrets.dev_secret(self.folder, key_id + SUFFIX, generate=generate)
        return key_id

    def ensure_first(self, generate: Callable[[], bytes]) -> None:
        """Make the ring's first key unless the folder holds one."""
        if not self.keys():
            devsecrets.dev_secret(self.folder, FIRST_KEY_ID + SUFFIX, generate=generate)

    def remove(self, key_id: str) -> bool:
        """Delete a key's file; whether there was one."""
        if not KEY_ID.match(key_id):
            return False
        path = self.folder / (key_id + SUFFIX)
        if not path.exists():
            return False
        path.unlink()
        return True
