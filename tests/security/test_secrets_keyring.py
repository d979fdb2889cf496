"""The connection secrets key ring: the first key seals, every key opens, a key added on disk seals at once,
re-sealing keeps a compromise, hints show at most the last two characters; no well-known webhook secret."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from services.connection.adapters.sealer import FernetSealer, KeyRing
from services.connection.application.ports import PlainSecrets
from services.connection.config import ConnectionSettings
from services.connection.domain.model import Connection
from services.notification.bootstrap import webhook_master
from services.notification.config import NotificationSettings
from shared.events.connection import ConnectionRegistered, CredentialsCompromised, SecretsResealed
from shared.keyring import KeyFolder

SECRETS = PlainSecrets(auth_id="AUTH-0001-XYZ9", password="pw-テスト-long", pairing_id="PAIR-0001-AB42")


def test_the_newest_key_of_the_folder_seals_and_every_key_opens(tmp_path):
    folder = KeyFolder(tmp_path / "keys")
    folder.ensure_first(Fernet.generate_key)
    sealer = FernetSealer(KeyRing(folder))
    old = sealer.seal(SECRETS)
    newer = folder.add(Fernet.generate_key)
    assert sealer.sealing_key_id() == newer and sealer.key_ids()[1] == old.key_id  # seen without a restart
    resealed = sealer.reseal(old)
    assert resealed.key_id == newer and resealed.ciphertext != old.ciphertext and resealed.hints == old.hints
    assert folder.remove(old.key_id)
    assert sealer.reseal(resealed).key_id == newer
    with pytest.raises(KeyError):
        sealer.reseal(old)  # its key retired: nothing opens it any more
    assert oct((tmp_path / "keys" / f"{newer}.key").stat().st_mode & 0o777) == "0o600"


def test_a_key_from_before_key_ids_opens_and_stops_sealing_once_the_folder_has_a_key(tmp_path):
    legacy = Fernet.generate_key()
    folder = KeyFolder(tmp_path / "keys")
    sealer = FernetSealer(KeyRing(folder, legacy=legacy))
    before = sealer.seal(SECRETS).model_copy(update={"key_id": None})  # as events written before key ids
    assert before.sealed_with == "legacy"
    newer = folder.add(Fernet.generate_key)
    assert sealer.reseal(before).key_id == newer


def test_hints_show_at_most_the_last_two_characters_and_nothing_of_the_password():
    sealed = FernetSealer(KeyRing(keys=[("k1", Fernet.generate_key())])).seal(SECRETS)
    assert sealed.hints == {"auth_id": "…Z9", "password": "********", "pairing_id": "…42"}
    short = FernetSealer(KeyRing(keys=[("k1", Fernet.generate_key())])).seal(PlainSecrets("ABC", "p", "XYZ"))
    assert short.hints["auth_id"] == "…" and short.hints["pairing_id"] == "…"


def test_resealing_changes_the_key_but_not_a_compromise():
    ids = {"connection_id": "c-1", "operator_id": "op-1"}
    sealer = FernetSealer(KeyRing(keys=[("k2", Fernet.generate_key()), ("k1", Fernet.generate_key())]))
    registered = ConnectionRegistered(**ids, kind="special_meter", maker="M", model="X", firmware="1",
                                      secrets=sealer.seal(SECRETS).model_copy(update={"key_id": "k1"}))  # fmt: skip
    connection = Connection("c-1")
    for event in (registered, CredentialsCompromised(**ids, incident_id="leak-1")):
        connection._apply(event)
    assert connection.reseal(sealer.seal(SECRETS)) is True
    (event,) = connection.take_pending()
    assert isinstance(event, SecretsResealed) and event.previous_key_id == "k1" and event.secrets.key_id == "k2"
    assert connection.compromised and connection.index()["sealed_with"] == ["k2"]
    assert connection.reseal(sealer.seal(SECRETS)) is False  # already under the sealing key


@pytest.mark.parametrize("value", ["change-me-webhook-secret", "CHANGE-ME", "secret", "short-one"])
def test_a_well_known_or_short_signing_secret_stops_the_service(value):
    with pytest.raises(ValueError, match="SMGUARD_WEBHOOK_SECRET"):
        NotificationSettings(webhook_secret=value)
    with pytest.raises(ValueError, match="SMGUARD_ENFORCEMENT_SECRET"):
        ConnectionSettings(enforcement_secret=value)


def test_without_a_configured_webhook_secret_a_random_one_is_kept_owner_only_in_the_data_folder(tmp_path):
    first = webhook_master(NotificationSettings(), tmp_path)
    assert len(first) >= 32 and webhook_master(NotificationSettings(), tmp_path) == first
    assert oct((tmp_path / "dev-webhook-secret").stat().st_mode & 0o777) == "0o600"
    assert webhook_master(NotificationSettings(), tmp_path / "other") != first
