"""In-memory fakes of the service's ports, for handler tests with the shared ``InMemoryEventStore``."""

from __future__ import annotations

import hashlib
import json

from services.connection.application.ports import (
    EnforcementCall,
    EnforcementError,
    EnforcementPort,
    OwnerRefused,
    Owners,
    PlainSecrets,
    SecretSealer,
)
from shared.events.connection import SealedSecrets


class RecordingEnforcement(EnforcementPort):
    """Keeps every call; refuses the next ``fail_next`` calls (all, while ``always_fail``) as a peer answering 503."""

    def __init__(self, *, fail_next: int = 0, always_fail: bool = False) -> None:
        self.calls: list[EnforcementCall] = []
        self.acknowledged: list[EnforcementCall] = []
        self.fail_next, self.always_fail = fail_next, always_fail

    async def send(self, call: EnforcementCall) -> None:
        """Record the call; acknowledge it unless told to fail."""
        self.calls.append(call)
        if self.always_fail or self.fail_next > 0:
            self.fail_next = max(0, self.fail_next - 1)
            raise EnforcementError("HTTP 503 from the enforcement peer")
        self.acknowledged.append(call)


class MemorySealer(SecretSealer):
    """Seals by fingerprint only, under a pretend key id the test may change (``keys``, the sealing one first);
    remembers nothing of the plain secrets."""

    def __init__(self, keys: list[str] | None = None) -> None:
        self.keys = list(keys or ["k-memory-1"])

    def seal(self, secrets: PlainSecrets) -> SealedSecrets:
        """A fingerprint standing in for the ciphertext, and the masked hints a person would see."""
        plain = json.dumps([secrets.auth_id, secrets.password, secrets.pairing_id], ensure_ascii=False).encode()
        fingerprint = hashlib.sha256(plain).hexdigest()
        return SealedSecrets(
            ciphertext=f"memory:{fingerprint}",
            fingerprint=fingerprint,
            hints={"auth_id": f"…{secrets.auth_id[-2:]}", "password": "********", "pairing_id": f"…{secrets.pairing_id[-2:]}"},
            key_id=self.keys[0],
        )

    def reseal(self, sealed: SealedSecrets) -> SealedSecrets:
        """The same stand-in under the sealing key id; KeyError when its key left the ring."""
        if sealed.sealed_with not in self.keys:
            raise KeyError(f"no key of the ring opens secrets sealed with key {sealed.sealed_with}")
        return sealed.model_copy(update={"key_id": self.keys[0]})

    def sealing_key_id(self) -> str:
        """The first key id."""
        return self.keys[0]

    def key_ids(self) -> list[str]:
        """The key ids, the sealing one first."""
        return list(self.keys)


class MemoryOwners(Owners):
    """Other instances played by the test: ``answers[connection_id]`` is True (reconnected), False (approved) or
    a refusal reason; ``calls`` keeps (owner, connection id, note, credentials)."""

    def __init__(self, answers: dict[str, bool | str] | None = None) -> None:
        self.answers = answers or {}
        self.calls: list[tuple[str, str, str, str]] = []

    async def approve(self, owner: str, connection_id: str, *, note: str, credentials: str) -> bool:
        """Answer as told; an unknown connection is refused as the owner would (404)."""
        self.calls.append((owner, connection_id, note, credentials))
        answer = self.answers.get(connection_id, f"connection {connection_id} not found")
        if isinstance(answer, str):
            raise OwnerRefused(answer)
        return answer
