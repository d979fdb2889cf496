"""Who may do what on the broker: one principal per service, read-only SOC consumers, deny by default.

The broker authorizes every request against ACLs (``allow.everyone.if.no.acl.found=false``): a
principal can do only what ``rules()`` grants it. Each service writes its own topics and reads the
topics it consumes; a SOC consumer reads the event topics with consumer groups named after itself.
Principals and ACLs are made by the broker's super-user through the Kafka admin API (confluent-kafka:
aiokafka's admin client has no ACL or SCRAM-credential calls).

A deployment's topic prefix (``SMGUARD_TOPIC_PREFIX``) prefixes its principals too, so deployments
sharing a broker (and tests) never share a principal.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from shared.config import Settings
from shared.kafka.clients import Access, access, librdkafka_config
from shared.kafka.tls import ADMIN_USER, BrokerMaterial, material_folder, new_password, write_private
from shared.services import CONSOLE, PROCESSES
from shared.topics import (
    ALL_TOPICS, CONNECTION_COMMANDS, CONNECTION_EVENTS, CONNECTION_STATE, CONTACT_EVENTS, DEAD_LETTERS, EVENT_TOPICS,
    INCIDENT_EVENTS, INCIDENT_STATE, NOTIFICATION_COMMANDS, NOTIFICATION_EVENTS, NOTIFICATION_STATE, OPERATOR_EVENTS,
    POLICY_EVENTS, SENSOR_ANOMALIES,
)  # fmt: skip

SOC_CONSUMER = "soc-consumer"
ROLES = (*PROCESSES, SOC_CONSUMER)

# The topics (catalog bases) each service writes, and those it only reads.
WRITES: dict[str, tuple[str, ...]] = {
    "incident": (INCIDENT_EVENTS, INCIDENT_STATE, SENSOR_ANOMALIES, DEAD_LETTERS),
    "connection": (CONNECTION_EVENTS, POLICY_EVENTS, OPERATOR_EVENTS, CONNECTION_COMMANDS, CONNECTION_STATE, DEAD_LETTERS),
    "notification": (NOTIFICATION_EVENTS, CONTACT_EVENTS, NOTIFICATION_COMMANDS, NOTIFICATION_STATE, DEAD_LETTERS),
    "audit": (DEAD_LETTERS,),
    CONSOLE: (DEAD_LETTERS,),
}
READS: dict[str, tuple[str, ...]] = {
    "incident": (CONNECTION_EVENTS,),
    "connection": (INCIDENT_EVENTS,),
    "notification": (INCIDENT_EVENTS, CONNECTION_EVENTS, POLICY_EVENTS, OPERATOR_EVENTS),
    "audit": EVENT_TOPICS,
    CONSOLE: EVENT_TOPICS,  # the live feed it pushes to the SOC's browsers
}


def topics_of(service: str) -> tuple[str, ...]:
    """Every topic a service touches (what it makes sure exists at start)."""
    return tuple(dict.fromkeys((*WRITES[service], *READS[service])))


@dataclass(frozen=True)
class Rule:
    """One ACL: allow ``operations`` on a resource named (``literal``) or starting with (``prefixed``) ``name``."""

    resource: str  # "topic", "group", "transactional_id"
    name: str
    pattern: str  # "literal" or "prefixed"
    operations: tuple[str, ...]


def principal_name(prefix: str, role: str, name: str | None = None) -> str:
    """The user name of a service's principal (``smguard-incident``) or of a named SOC consumer, with the prefix."""
    if role in PROCESSES:
        return f"{prefix}smguard-{role}"
    if not name:
        raise ValueError("a SOC consumer needs a name")
    return f"{prefix}{name}"


def rules(prefix: str, role: str, user: str) -> list[Rule]:
    """What a principal of ``role`` may do in the deployment with topic ``prefix`` (nothing else)."""
    if role == SOC_CONSUMER:
        return [
            *(Rule("topic", prefix + base, "literal", ("READ", "DESCRIBE")) for base in EVENT_TOPICS),
            Rule("group", user, "prefixed", ("READ", "DESCRIBE")),  # groups named after the consumer
        ]
    if role not in PROCESSES:
        raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    own = [Rule("topic", prefix + base, "literal", ("WRITE", "READ", "DESCRIBE", "CREATE", "DESCRIBE_CONFIGS"))
           for base in WRITES[role]]  # fmt: skip
    read = [Rule("topic", prefix + base, "literal", ("READ", "DESCRIBE")) for base in READS[role] if base not in WRITES[role]]
    return [
        *own,
        *read,
        Rule("topic", f"{prefix}smguard.", "prefixed", ("DESCRIBE",)),  # see which topics exist (names, partitions)
        Rule("topic", f"{prefix}smguard-{role}-", "prefixed", ("ALL",)),  # its stream agents' own topics (faust)
        Rule("group", f"{prefix}smguard.{role}", "prefixed", ("READ", "DESCRIBE")),  # its store's group
        Rule("group", f"{prefix}smguard-{role}", "prefixed", ("READ", "DESCRIBE")),  # its stream agents' group
        Rule("transactional_id", f"{prefix}smguard.{role}.", "prefixed", ("WRITE", "DESCRIBE")),  # its writers
    ]


class AccessError(RuntimeError):
    """The broker refused or failed an administration request; a one-line reason."""


@dataclass(frozen=True)
class Credentials:
    """A principal's user name and where its password is kept (never printed unless asked)."""

    user: str
    role: str
    password_file: Path

    @property
    def password(self) -> str:
        return self.password_file.read_text().strip()


def _admin_client(a: Access):  # noqa: ANN202 - confluent_kafka has no type stubs
    from confluent_kafka.admin import AdminClient

    return AdminClient(librdkafka_config(a) | {"socket.timeout.ms": 15000, "log_level": 3})  # errors only


def _wait(futures: dict, what: str, timeout: float = 30.0) -> None:
    for key, future in futures.items():
        try:
            future.result(timeout=timeout)
        except Exception as exc:  # KafkaException carries a KafkaError: show its reason
            error = exc.args[0] if exc.args else None
            reason = error.str() if hasattr(error, "str") else str(exc)
            raise AccessError(f"{what} failed for {key}: {reason}") from None


def admin_access(settings: Settings) -> Access:
    """The configured principal (on a development machine: the broker's super-user), over PLAIN when it is the
    super-user: the one mechanism it has before its SCRAM credential exists."""
    a = access(settings)
    return dataclasses.replace(a, mechanism="PLAIN") if a.username == ADMIN_USER else a


def upsert_scram(a: Access, user: str, password: str) -> None:
    from confluent_kafka.admin import ScramCredentialInfo, ScramMechanism, UserScramCredentialUpsertion

    info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192)
    client = _admin_client(a)  # kept referenced until the futures are done (its handle dies with it)
    _wait(client.alter_user_scram_credentials([UserScramCredentialUpsertion(user, info, password.encode())]),
          "setting a SCRAM credential")  # fmt: skip


def _bindings(user: str, granted: list[Rule]) -> list:
    from confluent_kafka.admin import AclBinding, AclOperation, AclPermissionType, ResourcePatternType, ResourceType

    kinds = {"topic": ResourceType.TOPIC, "group": ResourceType.GROUP, "transactional_id": ResourceType.TRANSACTIONAL_ID}
    patterns = {"literal": ResourcePatternType.LITERAL, "prefixed": ResourcePatternType.PREFIXED}
    return [
        AclBinding(kinds[rule.resource], rule.name, patterns[rule.pattern], f"User:{user}", "*",
                   getattr(AclOperation, op), AclPermissionType.ALLOW)  # fmt: skip
        for rule in granted
        for op in rule.operations
    ]


def _replace_acls(a: Access, user: str, granted: list[Rule]) -> None:
    from confluent_kafka.admin import AclBindingFilter, AclOperation, AclPermissionType, ResourcePatternType, ResourceType

    client = _admin_client(a)
    old = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, f"User:{user}", None,
                           AclOperation.ANY, AclPermissionType.ANY)  # fmt: skip
    _wait(client.delete_acls([old]), "removing old ACLs")
    _wait(client.create_acls(_bindings(user, granted)), "creating ACLs")


def add_user(settings: Settings, role: str, name: str | None = None, *, rotate: bool = False) -> Credentials:
    """Make (or update) a principal with exactly the rights of ``role``; its password kept in a 0600 file.

    The password is generated once and kept (``rotate`` makes a new one). Run as the broker's super-user.
    """
    user = principal_name(settings.topic_prefix, role, name)
    if user == ADMIN_USER:
        raise ValueError(f"{ADMIN_USER!r} is the broker's super-user")
    material = BrokerMaterial(material_folder(settings.data_dir))
    path = material.password_file(user)
    if rotate or not path.exists():
        write_private(path, new_password().encode())
    a = admin_access(settings)
    upsert_scram(a, user, path.read_text().strip())
    _replace_acls(a, user, rules(settings.topic_prefix, role, user))
    return Credentials(user, role, path)


def remove_user(settings: Settings, user: str) -> None:
    """Delete a principal's SCRAM credential and every ACL of it."""
    from confluent_kafka.admin import (AclBindingFilter, AclOperation, AclPermissionType, ResourcePatternType,
                                       ResourceType, ScramMechanism, UserScramCredentialDeletion)  # fmt: skip

    client = _admin_client(admin_access(settings))
    _wait(client.alter_user_scram_credentials([UserScramCredentialDeletion(user, ScramMechanism.SCRAM_SHA_512)]),
          "deleting the SCRAM credential")  # fmt: skip
    _wait(client.delete_acls([AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, f"User:{user}", None,
                                               AclOperation.ANY, AclPermissionType.ANY)]), "removing ACLs")  # fmt: skip
    BrokerMaterial(material_folder(settings.data_dir)).password_file(user).unlink(missing_ok=True)


def setup(settings: Settings) -> dict[str, Credentials]:
    """What a secured deployment needs before its services start: the super-user's SCRAM credential, every
    topic, and each service's principal with its ACLs. Idempotent; run as the broker's super-user."""
    import asyncio
    import concurrent.futures

    from shared.kafka.admin import ensure_topics

    a = admin_access(settings)
    if a.username == ADMIN_USER:
        upsert_scram(a, ADMIN_USER, a.password or "")  # so SCRAM-SHA-512, the clients' mechanism, works for it too
    admin_settings = settings.model_copy(update={"kafka_username": a.username, "kafka_sasl_mechanism": a.mechanism})
    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # its own event loop: callable from any caller
        pool.submit(asyncio.run, ensure_topics(admin_settings, ALL_TOPICS)).result()
    return {service: add_user(settings, service) for service in PROCESSES}


def service_credentials(settings: Settings, service: str) -> Credentials | None:
    """The locally kept credentials of a service's principal, when ``setup`` made them on this machine."""
    user = principal_name(settings.topic_prefix, service)
    path = BrokerMaterial(material_folder(settings.data_dir)).password_file(user)
    return Credentials(user, service, path) if path.is_file() else None
