"""JSON on the hot paths, through orjson: records, snapshots, read-model documents.

Every event is encoded once and decoded by each consumer; every read-model document is decoded and
encoded again for each batch that changes it. orjson does both several times faster than the
standard library. The output is compact UTF-8 JSON; values the standard library wrote through
``default=str`` (datetimes among them) are still written as ``str(value)``, so documents written
before and after read the same. Canonical forms that are hashed or signed (the audit log's entries,
webhook bodies) keep the standard library's exact bytes and do not use this module.
"""

from __future__ import annotations

from typing import Any

import orjson

_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS

DecodeError = orjson.JSONDecodeError
"""What ``loads`` raises for text that is not JSON (a ``ValueError``, as the standard library's is)."""


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON; a value JSON has no form for is written as its ``str``."""
    return orjson.dumps(value, default=str, option=_OPTIONS)


def dumps_text(value: Any) -> str:
    """``dumps`` as text (what a SQLite TEXT column keeps, and ``json_extract`` reads)."""
    return orjson.dumps(value, default=str, option=_OPTIONS).decode()


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    """Parse JSON; ``DecodeError`` (a ValueError) when it is not."""
    return orjson.loads(data)
