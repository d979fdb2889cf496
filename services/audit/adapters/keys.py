"""The checkpoint signing key: from settings, else a development key kept in the data folder."""

from __future__ import annotations

import base64
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared import devsecrets


def new_pem() -> bytes:
    """A fresh Ed25519 private key as PEM (PKCS#8), for a development key file."""
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def parse_private_key(text: str) -> Ed25519PrivateKey:
    """An Ed25519 private key from PEM (PKCS#8) or base64 of its raw 32 bytes."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_private_key(text.encode(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("the audit signing key must be Ed25519")
        return key
    return Ed25519PrivateKey.from_private_bytes(base64.b64decode(text))


def load_signing_key(configured: str | None, data_dir: Path) -> Ed25519PrivateKey:
    """The configured key, or the development one (``<data_dir>/audit/dev-audit-signing-key.pem``, never in the repository)."""
    pem = devsecrets.configured_or_dev(configured, data_dir, devsecrets.AUDIT_SIGNING_KEY, generate=new_pem)
    return parse_private_key(pem.decode())
