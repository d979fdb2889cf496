"""The local broker's security material: a CA, the broker's TLS certificate, the broker admin's password.

Generated once with ``cryptography`` into ``<data dir>/kafka-security/`` (every file owner-only,
written atomically), read by ``infra/kafka/broker.py`` (which needs only the standard library) and by
the clients, which trust ``ca.pem``. The certificate names ``127.0.0.1`` and ``localhost``: the broker
listens on loopback.

Layout::

    ca.pem               the CA certificate clients trust (SMGUARD_KAFKA_CA_FILE)
    ca-key.pem           the CA's private key (signs the broker certificate; never leaves this folder)
    broker.p12           the broker's key and certificate chain (PKCS#12)
    broker.p12.password  its password
    admin.password       the broker's super-user ("admin": the broker itself and provisioning)
    users/<name>.password  SCRAM passwords of the principals made with ``shared.kafka.access``
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ADMIN_USER = "admin"
CERT_DAYS = 825
FOLDER = "kafka-security"


@dataclass(frozen=True)
class BrokerMaterial:
    """Where the local broker's security material is."""

    folder: Path

    @property
    def ca_file(self) -> Path:
        return self.folder / "ca.pem"

    @property
    def keystore(self) -> Path:
        return self.folder / "broker.p12"

    @property
    def admin_password(self) -> str:
        return (self.folder / "admin.password").read_text().strip()

    def keystore_pem(self) -> tuple[str, str]:
        """The broker's key (PKCS#8, encrypted with the keystore's password) and certificate chain, as PEM text."""
        password = (self.folder / "broker.p12.password").read_bytes().strip()
        key, cert, chain = pkcs12.load_key_and_certificates(self.keystore.read_bytes(), password)
        assert key is not None and cert is not None
        key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.BestAvailableEncryption(password))  # fmt: skip
        return key_pem.decode(), "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in [cert, *chain])

    def password_file(self, user: str) -> Path:
        """Where a principal's password is kept (the admin's, or a provisioned user's)."""
        if user == ADMIN_USER:
            return self.folder / "admin.password"
        return self.folder / "users" / f"{user}.password"


def material_folder(data_dir: Path) -> Path:
    """The security folder of a data dir."""
    return Path(data_dir) / FOLDER


def ensure_material(folder: Path, *, hosts: tuple[str, ...] = ()) -> BrokerMaterial:
    """The material in ``folder``, generated when missing (the CA and certificate are kept once made);
    ``hosts``: names the broker's certificate carries besides localhost and 127.0.0.1 (e.g. ``kafka``)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    material = BrokerMaterial(folder)
    if not (folder / "admin.password").exists():
        write_private(folder / "admin.password", new_password().encode())
    if not (material.ca_file.exists() and material.keystore.exists() and (folder / "broker.p12.password").exists()):
        _make_certificates(folder, hosts)
    return material


def new_password() -> str:
    """A fresh random password (256 bits, URL-safe text)."""
    return secrets.token_urlsafe(32)


def write_private(path: Path, data: bytes) -> None:
    """Write a file only its owner may read, atomically: created 0600 under a temporary name, then renamed."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mkstemp creates it 0600
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _make_certificates(folder: Path, hosts: tuple[str, ...] = ()) -> None:
    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "smguard local Kafka CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CERT_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                                     encipher_only=False, decipher_only=False), critical=True)  # fmt: skip
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CERT_DAYS))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"), *(x509.DNSName(h) for h in hosts),
                                                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)  # fmt: skip
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    password = new_password()
    keystore = pkcs12.serialize_key_and_certificates(
        b"broker", key, cert, [ca_cert], serialization.BestAvailableEncryption(password.encode())
    )
    write_private(folder / "ca-key.pem", ca_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                              serialization.NoEncryption()))  # fmt: skip
    write_private(folder / "broker.p12.password", password.encode())
    write_private(folder / "broker.p12", keystore)
    write_private(folder / "ca.pem", ca_cert.public_bytes(serialization.Encoding.PEM))


def write_broker_properties(material: BrokerMaterial) -> Path:
    """``broker.properties``: the broker's secrets as keys a Kafka FileConfigProvider reads (compose's broker
    takes them as ``${file:…:key}`` references, so no password sits in its environment)."""
    admin = material.admin_password
    keystore_password = (material.folder / "broker.p12.password").read_text().strip()
    jaas = ('org.apache.kafka.common.security.plain.PlainLoginModule required '
            f'username="{ADMIN_USER}" password="{admin}" user_{ADMIN_USER}="{admin}";')  # fmt: skip
    path = material.folder / "broker.properties"
    write_private(path, f"keystore_password={keystore_password}\nplain_jaas={jaas}\n".encode())
    return path


def main(argv: list[str] | None = None) -> int:
    """``python -m shared.kafka.tls FOLDER``: make the material (``make kafka-up``, compose's kafka-secrets)."""
    import argparse
    import shutil

    parser = argparse.ArgumentParser(prog="python -m shared.kafka.tls", description=main.__doc__)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--host", action="append", default=[], help="another name the broker is reached by (repeatable)")
    parser.add_argument("--owner", help="UID:GID to own the folder's files (a container's broker user)")
    parser.add_argument("--clients", type=Path, help="also copy ca.pem here, for the clients")
    parser.add_argument("--admin", type=Path, help="also copy ca.pem and admin.password here, for provisioning")
    parser.add_argument("--clients-owner", help="UID:GID to own the copies")
    args = parser.parse_args(argv)
    material = ensure_material(args.folder, hosts=tuple(args.host))
    write_broker_properties(material)
    copies = [p for p in (args.clients, args.admin) if p]
    for folder in copies:
        folder.mkdir(parents=True, exist_ok=True)
        write_private(folder / "ca.pem", material.ca_file.read_bytes())
    if args.admin:
        write_private(args.admin / "admin.password", (material.folder / "admin.password").read_bytes())
    for folder, owner in ((material.folder, args.owner), *((f, args.clients_owner) for f in copies)):
        if owner:
            uid, gid = (int(x) for x in owner.split(":"))
            for path in [folder, *folder.rglob("*")]:
                shutil.chown(path, uid, gid)
    print(material.folder)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
