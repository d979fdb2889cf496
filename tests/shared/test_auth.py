"""Tokens: minting, verification and the tenant rule, without I/O."""

import jwt
import pytest

from shared.auth import Principal, decode_token, mint_token
from shared.config import Settings


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(data_dir=tmp_path, jwt_secret="k" * 40)


def test_a_minted_operator_token_names_its_role_and_tenant(settings: Settings) -> None:
    principal = decode_token(settings, mint_token(settings, role="operator", operator_id="op-1"))
    assert (principal.role, principal.operator_id) == ("operator", "op-1")


def test_a_token_signed_with_another_key_is_refused(settings: Settings, tmp_path) -> None:
    other = Settings(data_dir=tmp_path, jwt_secret="x" * 40)
    with pytest.raises(ValueError, match="Signature"):
        decode_token(settings, mint_token(other, role="utility_soc"))


def test_an_unknown_role_is_refused(settings: Settings) -> None:
    token = jwt.encode({"sub": "x", "role": "root", "iss": "smguard", "exp": 2**40}, "k" * 40, algorithm="HS256")
    with pytest.raises(ValueError, match="unknown role"):
        decode_token(settings, token)


def test_an_operator_token_without_a_tenant_cannot_be_minted(settings: Settings) -> None:
    with pytest.raises(ValueError, match="operator-id"):
        mint_token(settings, role="operator")


def test_without_a_configured_key_a_development_key_is_generated_once_into_the_data_folder(tmp_path) -> None:
    settings = Settings(data_dir=tmp_path / "d")
    token = mint_token(settings, role="auditor")
    assert (tmp_path / "d" / "dev-signing-key").exists()
    assert decode_token(Settings(data_dir=tmp_path / "d"), token).role == "auditor"


def test_operators_see_only_their_own_tenant_and_auditors_see_all() -> None:
    operator = Principal("u", "operator", "op-1")
    assert operator.may_see_operator("op-1") and not operator.may_see_operator("op-2")
    assert not operator.may_see_operator(None)
    assert Principal("a", "auditor").may_see_operator("op-2")
    assert not Principal("s", "sensor").may_see_operator("op-1")
