"""Connection secrets sealed with a key ring of Fernet keys (AES-128-CBC + HMAC), each key with an id.

The ring is ``MultiFernet``: the first key seals, every key opens. Its keys are the files of the key
folder (``shared.keyring``; newest first) and, last, a key from before key ids (``legacy``: the
``SMGUARD_CONNECTION_SECRETS_KEY`` setting or ``<data_dir>/connection-secrets.key``), which seals
only while the folder is empty. The folder is looked at again before each use, so a key added by
``smguard secrets rotate-key`` seals at once in every running instance, without a restart.
"""

from __future__ import annotations

import hashlib
import hmac
import json

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from services.connection.application.ports import PlainSecrets, SecretSealer
from shared.events.connection import LEGACY_KEY_ID, SealedSecrets
from shared.keyring import KeyFolder


def mask(value: str) -> str:
    """A hint a person can recognise by its end, e.g. ``…z9``; short values show nothing."""
    return f"…{value[-2:]}" if len(value) >= 8 else "…"


def hints_of(secrets: PlainSecrets) -> dict[str, str]:
    """The masked hints: the last two characters of the auth id and Pairing ID, nothing of the password."""
    return {"auth_id": mask(secrets.auth_id), "password": "********", "pairing_id": mask(secrets.pairing_id)}


class KeyRing:
    """The sealing keys by id, the newest first; re-read from the folder whenever it changed."""

    def __init__(self, folder: KeyFolder | None = None, *, legacy: bytes | None = None, keys: list[tuple[str, bytes]] = ()) -> None:
        self._folder, self._legacy, self._fixed = folder, legacy, list(keys)
        self._seen = -1
        self._keys: list[tuple[str, bytes]] = []
        self.refresh()

    def refresh(self) -> None:
        """Read the folder again if a key was added or removed since the last look."""
        version = self._folder.version() if self._folder else 0
        if version == self._seen and self._keys:
            return
        keys = [*self._fixed, *(self._folder.keys() if self._folder else [])]
        if self._legacy:
            keys.append((LEGACY_KEY_ID, self._legacy))
        if not keys:
            raise RuntimeError("the connection secrets key ring has no key")
        self._keys, self._seen = keys, version
        self.multi = MultiFernet([Fernet(key) for _, key in keys])

    @property
    def sealing(self) -> tuple[str, bytes]:
        """(id, key) of the key that seals."""
        self.refresh()
        return self._keys[0]

    def ids(self) -> list[str]:
        """Every key id, the sealing one first."""
        self.refresh()
        return [key_id for key_id, _ in self._keys]


class FernetSealer(SecretSealer):
    """Encrypts the three secrets together with the ring's first key; opens with any of its keys."""

    def __init__(self, ring: KeyRing) -> None:
        self.ring = ring
        self._sealing: tuple[str, bytes, Fernet, bytes] | None = None  # the sealing key made ready once (bulk seals many)

    def seal(self, secrets: PlainSecrets) -> SealedSecrets:
        """Ciphertext of the JSON of the secrets, an HMAC-SHA256 fingerprint under the same key, masked hints."""
        key_id, fernet, fingerprint_key = self._sealer()
        plain = json.dumps(
            {"auth_id": secrets.auth_id, "password": secrets.password, "pairing_id": secrets.pairing_id},
            ensure_ascii=False,
            sort_keys=True,
        ).encode()
        return SealedSecrets(
            ciphertext=fernet.encrypt(plain).decode(),
            fingerprint=hmac.new(fingerprint_key, plain, hashlib.sha256).hexdigest(),
            hints=hints_of(secrets),
            key_id=key_id,
        )

    def _sealer(self) -> tuple[str, Fernet, bytes]:
        """The sealing key's id, its Fernet and its fingerprint key (made again when the ring's sealing key changes)."""
        key_id, key = self.ring.sealing
        if self._sealing is None or self._sealing[:2] != (key_id, key):
            fingerprint_key = hmac.new(key, b"smguard connection secret fingerprint", hashlib.sha256).digest()
            self._sealing = (key_id, key, Fernet(key), fingerprint_key)
        return self._sealing[0], self._sealing[2], self._sealing[3]

    def open(self, sealed: SealedSecrets) -> PlainSecrets:
        """The plain secrets; KeyError when no key of the ring opens them (their key was retired)."""
        try:
            fields = json.loads(self.ring.multi.decrypt(sealed.ciphertext.encode()))
        except InvalidToken:
            raise KeyError(f"no key of the ring opens secrets sealed with key {sealed.sealed_with}") from None
        return PlainSecrets(auth_id=fields["auth_id"], password=fields["password"], pairing_id=fields["pairing_id"])

    def reseal(self, sealed: SealedSecrets) -> SealedSecrets:
        """The same secrets sealed with the sealing key (hints made again under today's masking)."""
        return self.seal(self.open(sealed))

    def sealing_key_id(self) -> str:
        """The id of the key that seals now."""
        return self.ring.sealing[0]

    def key_ids(self) -> list[str]:
        """Every key the ring holds, the sealing one first."""
        return self.ring.ids()
