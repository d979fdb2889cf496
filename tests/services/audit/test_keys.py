"""The checkpoint signing key: configured, or a development key kept in the data folder."""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit.adapters.keys import load_signing_key, new_pem
from services.audit.domain.checkpoints import public_key_b64


class TestSigningKey:
    def test_without_a_configured_key_a_development_key_is_generated_once_owner_only(self, tmp_path):
        first = load_signing_key(None, tmp_path)
        path = tmp_path / "audit" / "dev-audit-signing-key.pem"
        assert path.read_text().startswith("-----BEGIN PRIVATE KEY-----")
        assert path.stat().st_mode & 0o777 == 0o600
        assert public_key_b64(load_signing_key(None, tmp_path)) == public_key_b64(first)

    def test_a_configured_key_is_used_as_pem_or_raw_base64_and_nothing_is_written(self, tmp_path):
        pem = new_pem().decode()
        key = Ed25519PrivateKey.generate()
        raw = base64.b64encode(key.private_bytes_raw()).decode()
        assert public_key_b64(load_signing_key(pem, tmp_path)) != public_key_b64(load_signing_key(raw, tmp_path))
        assert public_key_b64(load_signing_key(raw, tmp_path)) == public_key_b64(key)
        assert not (tmp_path / "audit").exists()
