"""How every Kafka client of smguard connects: bootstrap servers, TLS, SASL — one place, from settings.

Every producer, consumer, admin client and faust app is made through these functions, so a service
talks to a secured broker (SASL_SSL with SCRAM-SHA-512, the default) or a PLAINTEXT one only as its
settings say. Credentials come from ``SMGUARD_KAFKA_USERNAME`` and ``SMGUARD_KAFKA_PASSWORD`` (or
``SMGUARD_KAFKA_PASSWORD_FILE``); on a development machine, when none is set, from the local broker's
security folder (``<data dir>/kafka-security``, see ``shared.kafka.tls``) — the files only its owner
may read. The password is never logged: ``describe()`` is what may be shown.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.helpers import create_ssl_context

from shared.config import Settings
from shared.kafka.tls import ADMIN_USER, BrokerMaterial, material_folder


class KafkaAccessError(RuntimeError):
    """The settings do not say how to reach the broker (a password or CA file missing); a one-line reason."""


@dataclass(frozen=True)
class Access:
    """How one client connects (hashable: an SSL context is made once per access)."""

    bootstrap: str
    protocol: str
    mechanism: str
    username: str | None
    password: str | None
    ca_file: str | None

    @property
    def uses_tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @property
    def uses_sasl(self) -> bool:
        return self.protocol.startswith("SASL_")

    def describe(self) -> str:
        """What may be shown in a log or message: never the password."""
        who = f" as {self.username} ({self.mechanism})" if self.uses_sasl else ""
        return f"{self.bootstrap} over {self.protocol}{who}"


def access(settings: Settings, *, username: str | None = None) -> Access:
    """How a client with these settings connects (``username`` overrides the configured principal)."""
    protocol = settings.kafka_security_protocol
    material = BrokerMaterial(material_folder(settings.data_dir))
    user = password = None
    if protocol.startswith("SASL_"):
        user = username or settings.kafka_username or ADMIN_USER
        password = _password(settings, user, material, explicit_user=username is not None)
    ca_file = None
    if protocol in ("SSL", "SASL_SSL"):
        ca = settings.kafka_ca_file or (material.ca_file if material.ca_file.exists() else None)
        if ca is not None and not Path(ca).is_file():
            raise KafkaAccessError(f"SMGUARD_KAFKA_CA_FILE {ca} is not a readable file")
        ca_file = str(ca) if ca else None  # None: the system's trusted CAs
    return Access(settings.kafka_bootstrap_servers, protocol, settings.kafka_sasl_mechanism, user, password, ca_file)


def _password(settings: Settings, user: str, material: BrokerMaterial, *, explicit_user: bool) -> str:
    if not explicit_user and settings.kafka_password is not None:
        return settings.kafka_password.get_secret_value()
    if not explicit_user and settings.kafka_password_file is not None:
        try:
            return Path(settings.kafka_password_file).read_text().strip()
        except OSError as exc:
            raise KafkaAccessError(f"cannot read SMGUARD_KAFKA_PASSWORD_FILE {settings.kafka_password_file}: {exc.strerror}") from None
    local = material.password_file(user)
    if local.is_file():
        return local.read_text().strip()
    raise KafkaAccessError(
        f"no Kafka password for {user!r}: set SMGUARD_KAFKA_PASSWORD (or SMGUARD_KAFKA_PASSWORD_FILE), or make the "
        f"principal with `smguard kafka-user add {user} --role ...` on the machine that runs the local broker"
    )


@lru_cache(maxsize=32)
def _ssl_context(ca_file: str | None) -> ssl.SSLContext:
    return create_ssl_context(cafile=ca_file)


def aiokafka_options(a: Access) -> dict[str, Any]:
    """The keyword arguments aiokafka's clients take for this access."""
    options: dict[str, Any] = {"bootstrap_servers": a.bootstrap, "security_protocol": a.protocol}
    if a.uses_tls:
        options["ssl_context"] = _ssl_context(a.ca_file)
    if a.uses_sasl:
        options |= {"sasl_mechanism": a.mechanism, "sasl_plain_username": a.username, "sasl_plain_password": a.password}
    return options


def producer(settings: Settings, **kwargs: Any) -> AIOKafkaProducer:
    """An aiokafka producer connected as the settings say."""
    return AIOKafkaProducer(**(aiokafka_options(access(settings)) | kwargs))


def consumer(settings: Settings, *topics: str, **kwargs: Any) -> AIOKafkaConsumer:
    """An aiokafka consumer connected as the settings say."""
    return AIOKafkaConsumer(*topics, **(aiokafka_options(access(settings)) | kwargs))


def admin(settings: Settings, **kwargs: Any) -> AIOKafkaAdminClient:
    """An aiokafka admin client connected as the settings say."""
    return AIOKafkaAdminClient(**(aiokafka_options(access(settings)) | kwargs))


def faust_options(settings: Settings) -> dict[str, Any]:
    """The faust app options that connect it as the settings say."""
    import faust

    a = access(settings)
    options: dict[str, Any] = {"broker": f"kafka://{a.bootstrap}"}
    if a.uses_sasl:
        options["broker_credentials"] = faust.SASLCredentials(
            username=a.username, password=a.password, mechanism=a.mechanism,
            ssl_context=_ssl_context(a.ca_file) if a.uses_tls else None,
        )  # fmt: skip
    elif a.uses_tls:
        options["broker_credentials"] = faust.SSLCredentials(_ssl_context(a.ca_file))
    return options


def librdkafka_config(a: Access) -> dict[str, Any]:
    """The same access for confluent-kafka (librdkafka), which the broker administration uses."""
    config: dict[str, Any] = {"bootstrap.servers": a.bootstrap, "security.protocol": a.protocol.lower()}
    if a.uses_tls and a.ca_file:
        config["ssl.ca.location"] = a.ca_file
    if a.uses_sasl:
        config |= {"sasl.mechanism": a.mechanism, "sasl.username": a.username, "sasl.password": a.password}
    return config
