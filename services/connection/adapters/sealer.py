"""Connection secrets sealed with Fernet (AES-128-CBC + HMAC) and fingerprinted with a keyed HMAC."""

from __future__ import annotations

import hashlib
import hmac
import json

from cryptography.fernet import Fernet

from services.connection.application.ports import PlainSecrets, SecretSealer
from shared.events.connection import SealedSecrets


def mask(value: str) -> str:
    """A hint a person can recognise, e.g. ``ab…z9``; short values show nothing."""
    return f"{value[:2]}…{value[-2:]}" if len(value) >= 8 else "…"


class FernetSealer(SecretSealer):
    """Encrypts the three secrets together; the password gets no hint at all."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)
        self._fingerprint_key = hmac.new(key, b"smguard connection secret fingerprint", hashlib.sha256).digest()

    def seal(self, secrets: PlainSecrets) -> SealedSecrets:
        """Ciphertext of the JSON of the secrets, an HMAC-SHA256 fingerprint, masked hints."""
        plain = json.dumps(
            {"auth_id": secrets.auth_id, "password": secrets.password, "pairing_id": secrets.pairing_id},
            ensure_ascii=False,
            sort_keys=True,
        ).encode()
        return SealedSecrets(
            ciphertext=self._fernet.encrypt(plain).decode(),
            fingerprint=hmac.new(self._fingerprint_key, plain, hashlib.sha256).hexdigest(),
            hints={"auth_id": mask(secrets.auth_id), "password": "********", "pairing_id": mask(secrets.pairing_id)},
        )

