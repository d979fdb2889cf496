"""Signed webhooks, one rule for every outgoing request: HMAC-SHA256 over ``<timestamp>.<body>``.

Headers: ``X-Smguard-Timestamp`` (Unix seconds) and ``X-Smguard-Signature: sha256=<hex>``. The
timestamp is signed with the body, so a receiver that checks it against its own clock (``verify``
does, within ``tolerance`` seconds) refuses a captured request replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Smguard-Signature"
TIMESTAMP_HEADER = "X-Smguard-Timestamp"
TOLERANCE_SECONDS = 300


def sign(key: bytes, timestamp: str, body: bytes) -> str:
    """The signature header value for ``body`` sent at ``timestamp``."""
    return "sha256=" + hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def signed_headers(key: bytes, body: bytes, *, now: float | None = None) -> dict[str, str]:
    """The timestamp and signature headers for a request sent now."""
    timestamp = str(int(time.time() if now is None else now))
    return {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: sign(key, timestamp, body)}


def verify(
    key: bytes,
    body: bytes,
    *,
    timestamp: str | None,
    signature: str | None,
    now: float | None = None,
    tolerance: float = TOLERANCE_SECONDS,
) -> bool:
    """Whether the signature is ours over this body and timestamp, and the timestamp is recent (constant time)."""
    if not timestamp or not signature:
        return False
    try:
        age = abs((time.time() if now is None else now) - int(timestamp))
    except ValueError:
        return False
    return age <= tolerance and hmac.compare_digest(sign(key, timestamp, body), signature)
