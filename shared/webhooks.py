"""Signed webhooks, one rule for every outgoing request: HMAC-SHA256 over ``<timestamp>.<body>``.

Headers: ``X-Smguard-Timestamp`` (Unix seconds), ``X-Smguard-Signature: sha256=<hex>`` and
``X-Smguard-Key-Id`` (which secret signed, so a receiver knows when to fetch a new one). The
timestamp is signed with the body, so a receiver that checks it against its own clock (``verify``
does, within ``TOLERANCE_SECONDS``) refuses a captured request replayed later. Every body carries
an ``id``: a repeat of one delivery has the same id. The scheme is written up in docs/webhooks.md.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import socket
import ssl
import time

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SIGNATURE_HEADER = "X-Smguard-Signature"
TIMESTAMP_HEADER = "X-Smguard-Timestamp"
KEY_ID_HEADER = "X-Smguard-Key-Id"
TOLERANCE_SECONDS = 300
MIN_SECRET_LENGTH = 16
WELL_KNOWN = ("change-me-webhook-secret", "secret", "password", "webhook-secret", "enforcement-secret", "0123456789abcdef")
PLACEHOLDERS = ("change-me", "changeme", "change_me", "replace-me", "your-secret")


def key_id(secret: bytes) -> str:
    """A public name of a signing secret: a hash of it, so it changes exactly when the secret does."""
    return "whk_" + hashlib.sha256(b"smguard webhook key id\x00" + secret).hexdigest()[:16]


def recipient_secret(master: bytes, recipient: str) -> bytes:
    """The signing secret of one recipient: HKDF-SHA256 of the service's master key and the recipient's name.

    Stable (the same inputs give the same secret), unique per recipient and unguessable without the
    master key. URL-safe text, so a receiver uses the string as given as its HMAC key.
    """
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"smguard webhook v1", info=recipient.encode()).derive(master)
    return base64.urlsafe_b64encode(derived).rstrip(b"=")


def sign(key: bytes, timestamp: str, body: bytes) -> str:
    """The signature header value for ``body`` sent at ``timestamp``."""
    return "sha256=" + hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def signed_headers(key: bytes, body: bytes, *, now: float | None = None) -> dict[str, str]:
    """The timestamp, signature and key id headers for a request sent now."""
    timestamp = str(int(time.time() if now is None else now))
    return {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: sign(key, timestamp, body), KEY_ID_HEADER: key_id(key)}


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


def require_strong(secret: str, *, setting: str) -> str:
    """``secret`` if it may sign requests; ValueError naming ``setting`` for a short or well-known value."""
    lowered = secret.strip().lower()
    if len(lowered) < MIN_SECRET_LENGTH or lowered in WELL_KNOWN or any(word in lowered for word in PLACEHOLDERS):
        raise ValueError(
            f"{setting} is a well-known or short value (fewer than {MIN_SECRET_LENGTH} characters): "
            "set a random secret, or unset it to use a generated development key"
        )
    return secret


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception, its causes and the members of any exception group among them."""
    seen: list[BaseException] = []
    todo = [exc]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.append(current)
        todo += [e for e in (current.__cause__, current.__context__) if e is not None]
        todo += list(getattr(current, "exceptions", ()))
    return seen


def failure_category(exc: BaseException) -> str:
    """What an operator may be told of a failed request: a short category, never the exception's text."""
    chain = _chain(exc)
    names = " ".join(type(e).__name__.lower() for e in chain)
    if any(isinstance(e, TimeoutError) for e in chain) or "timeout" in names:
        return "timeout"
    if any(isinstance(e, ConnectionRefusedError) for e in chain) or "connect call failed" in str(exc).lower():
        return "connection refused"
    if any(isinstance(e, socket.gaierror) for e in chain):
        return "host not found"
    if any(isinstance(e, ssl.SSLError) for e in chain):
        return "TLS error"
    return "connection failed"
