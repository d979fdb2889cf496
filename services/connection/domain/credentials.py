"""What a connection decides about its secrets: rotation, re-sealing under a new key, and the credential leaks that compromise them."""

from __future__ import annotations

from typing import Callable

from services.connection.domain.state import remember
from shared.events import DomainEvent
from shared.events.connection import CredentialsCompromised, SealedSecrets, SecretsResealed, SecretsRotated


class Credentials:
    """Decisions on a connection's secrets and their state changes (mixed into the Connection aggregate)."""

    operator_id: str
    secrets: SealedSecrets | None
    compromised_by: list[str]
    leaks_seen: list[str]

    _ids: Callable[[], dict[str, str]]
    _record: Callable[[DomainEvent], None]

    @property
    def compromised(self) -> bool:
        """A credential leak concerns it and the secrets were not rotated since."""
        return bool(self.compromised_by)

    def rotate_secrets(self, secrets: SealedSecrets) -> None:
        """Replace the secrets; this ends a compromise by earlier leaks."""
        self._record(SecretsRotated(**self._ids(), secrets=secrets))

    def reseal(self, secrets: SealedSecrets) -> bool:
        """The current secrets sealed again under another key (a compromise stands); whether anything changed."""
        if self.secrets is None or self.secrets.sealed_with == secrets.sealed_with:
            return False
        self._record(SecretsResealed(**self._ids(), previous_key_id=self.secrets.sealed_with, secrets=secrets))
        return True

    def mark_compromised(self, incident_id: str, *, reported_by_operator: str | None = None) -> bool:
        """A credential-leak incident names this connection; once per (recent) incident.

        The utility's report marks any connection it names; an operator's (``reported_by_operator``)
        only that operator's own: naming another operator's equipment changes nothing of it.
        """
        if reported_by_operator is not None and reported_by_operator != self.operator_id:
            return False
        if incident_id in self.leaks_seen:
            return False
        self._record(CredentialsCompromised(**self._ids(), incident_id=incident_id))
        return True

    def _on_SecretsRotated(self, e: SecretsRotated) -> None:  # noqa: N802 - named after the event
        self.secrets = e.secrets
        self.compromised_by.clear()

    def _on_SecretsResealed(self, e: SecretsResealed) -> None:  # noqa: N802
        self.secrets = e.secrets

    def _on_CredentialsCompromised(self, e: CredentialsCompromised) -> None:  # noqa: N802
        remember(self.compromised_by, e.incident_id)
        remember(self.leaks_seen, e.incident_id)
