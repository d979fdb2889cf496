"""The checkpoint signing key: from settings, else a development key generated into the data folder."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def parse_private_key(text: str) -> Ed25519PrivateKey:
    """An Ed25519 private key from PEM (PKCS#8) or base64 of its raw 32 bytes."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_private_key(text.encode(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("the audit signing key must be Ed25519")
        return key
    return Ed25519PrivateKey.from_private_bytes(base64.b64decode(text))


def load_signing_key(configured: str | None, folder: Path) -> Ed25519PrivateKey:
    """The configured key, or the one generated on first use under ``folder`` (never in the repository)."""
    if configured:
        return parse_private_key(configured)
    path = folder / "dev-audit-signing-key.pem"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        path.write_bytes(pem)
        path.chmod(0o600)
    return parse_private_key(path.read_text())


def public_key_b64(key: Ed25519PrivateKey) -> str:
    """The public key as base64 of its raw 32 bytes (what auditors keep)."""
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def key_id(key: Ed25519PrivateKey) -> str:
    """A short fingerprint of the public key, naming the log it signs."""
    return hashlib.sha256(base64.b64decode(public_key_b64(key))).hexdigest()[:16]
