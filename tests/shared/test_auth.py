"""Tokens: minting, verification, the development key's rules and the tenant rule, without I/O."""

import base64
import time

import jwt
import pytest
from pydantic import ValidationError

from shared.auth import Principal, TokenConfigError, check_settings, decode_token, mint_token, signing_key
from shared.config import Settings

KEY = "8xQm2-vLr0Zt9KpWcY4sHn7JbA1uFeD6gTiO3wVq5Ns"


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(data_dir=tmp_path, jwt_secret=KEY)


def dev_token(**claims) -> str:
    now = int(time.time())
    values = {"sub": "x", "role": "utility_soc", "iss": "smguard", "iat": now, "exp": now + 600} | claims
    return jwt.encode({k: v for k, v in values.items() if v is not None}, KEY, algorithm="HS256")


def test_a_minted_operator_token_names_its_role_and_tenant(settings: Settings) -> None:
    principal = decode_token(settings, mint_token(settings, role="operator", operator_id="op-1"))
    assert (principal.role, principal.operator_id) == ("operator", "op-1")


def test_a_token_signed_with_another_key_is_refused(settings: Settings, tmp_path) -> None:
    other = Settings(data_dir=tmp_path, jwt_secret="another-key-" + KEY)
    with pytest.raises(ValueError, match="Signature"):
        decode_token(settings, mint_token(other, role="utility_soc"))


def test_an_unknown_role_is_refused(settings: Settings) -> None:
    with pytest.raises(ValueError, match="unknown role"):
        decode_token(settings, dev_token(role="root"))


def test_an_operator_token_without_a_tenant_cannot_be_minted(settings: Settings) -> None:
    with pytest.raises(ValueError, match="operator-id"):
        mint_token(settings, role="operator")


def test_without_a_configured_key_a_development_key_is_generated_once_into_the_data_folder(tmp_path) -> None:
    settings = Settings(data_dir=tmp_path / "d")
    token = mint_token(settings, role="auditor")
    assert (tmp_path / "d" / "dev-signing-key").exists()
    assert decode_token(Settings(data_dir=tmp_path / "d"), token).role == "auditor"


def test_the_generated_development_key_is_32_random_bytes_or_more(tmp_path) -> None:
    first, second = signing_key(Settings(data_dir=tmp_path / "a")), signing_key(Settings(data_dir=tmp_path / "b"))
    assert first != second
    assert len(base64.urlsafe_b64decode(first + "=" * (-len(first) % 4))) >= 32


@pytest.mark.parametrize(
    "key",
    ["short-key", "smguard-compose-development-only", "change-me-in-production-0123456789abcdef", "k" * 40,
     "abab" * 12, "your-256-bit-secret", "secret"],
)  # fmt: skip
def test_a_short_or_well_known_key_is_refused_for_minting_verifying_and_starting(tmp_path, key: str) -> None:
    settings = Settings(data_dir=tmp_path, jwt_secret=key)
    with pytest.raises(TokenConfigError, match="SMGUARD_JWT_SECRET"):
        mint_token(settings, role="auditor")
    with pytest.raises(TokenConfigError):
        decode_token(settings, dev_token())
    with pytest.raises(TokenConfigError):
        check_settings(settings)


def test_a_key_file_is_read_and_a_missing_one_is_a_clear_error(tmp_path) -> None:
    (tmp_path / "key").write_text(KEY + "\n")
    from_file = Settings(data_dir=tmp_path, jwt_secret_file=tmp_path / "key")
    assert decode_token(Settings(data_dir=tmp_path, jwt_secret=KEY), mint_token(from_file, role="auditor")).role == "auditor"
    with pytest.raises(TokenConfigError, match="SMGUARD_JWT_SECRET_FILE"):
        check_settings(Settings(data_dir=tmp_path, jwt_secret_file=tmp_path / "missing"))


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "smguard.example.jp"])
def test_without_an_issuer_a_service_refuses_to_listen_beyond_loopback(tmp_path, host: str) -> None:
    with pytest.raises(TokenConfigError, match="SMGUARD_OIDC_ISSUER") as refused:
        check_settings(Settings(data_dir=tmp_path, jwt_secret=KEY, host=host))
    assert f"SMGUARD_HOST={host}" in str(refused.value)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_without_an_issuer_a_service_starts_on_loopback(tmp_path, host: str) -> None:
    check_settings(Settings(data_dir=tmp_path, jwt_secret=KEY, host=host))


def test_beyond_loopback_without_an_issuer_only_with_the_explicit_container_setting(tmp_path) -> None:
    check_settings(Settings(data_dir=tmp_path, jwt_secret=KEY, host="0.0.0.0", jwt_allow_non_loopback=True))
    with pytest.raises(TokenConfigError):  # the key rules still hold
        check_settings(Settings(data_dir=tmp_path, jwt_secret="secret", host="0.0.0.0", jwt_allow_non_loopback=True))


def test_an_issuer_needs_an_audience_a_safe_url_and_a_valid_role_map(tmp_path) -> None:
    issuer = {"data_dir": tmp_path, "host": "0.0.0.0", "oidc_issuer": "https://id.example.jp/realms/grid"}
    with pytest.raises(TokenConfigError, match="SMGUARD_OIDC_AUDIENCE is required"):
        check_settings(Settings(**issuer))
    check_settings(Settings(**issuer, oidc_audience="smguard"))  # any host: the keys are the issuer's
    with pytest.raises(TokenConfigError, match="https"):
        check_settings(Settings(**issuer | {"oidc_issuer": "http://id.example.jp"}, oidc_audience="smguard"))
    with pytest.raises(TokenConfigError, match="SMGUARD_OIDC_ROLE_MAP"):
        check_settings(Settings(**issuer, oidc_audience="smguard", oidc_role_map="soc-analysts=root"))


def test_the_clock_skew_tolerated_is_bounded() -> None:
    assert Settings().jwt_leeway_seconds == 30
    with pytest.raises(ValidationError):
        Settings(jwt_leeway_seconds=301)
    with pytest.raises(ValidationError):
        Settings(jwt_leeway_seconds=-1)


def test_with_an_issuer_smguard_mints_no_token(tmp_path) -> None:
    settings = Settings(data_dir=tmp_path, jwt_secret=KEY, oidc_issuer="https://id.example.jp", oidc_audience="smguard")
    with pytest.raises(TokenConfigError, match="identity provider"):
        mint_token(settings, role="utility_soc")


def test_expiry_and_not_before_are_checked_with_the_leeway(settings: Settings) -> None:
    now = int(time.time())
    assert decode_token(settings, dev_token(exp=now - 10)).role == "utility_soc"  # within 30 s of skew
    for claims, reason in [({"exp": now - 120}, "expired"), ({"nbf": now + 120}, "not yet valid"),
                           ({"iat": now + 120}, "not yet valid")]:  # fmt: skip
        with pytest.raises(ValueError, match=reason):
            decode_token(settings, dev_token(**claims))
    strict = settings.model_copy(update={"jwt_leeway_seconds": 0})
    with pytest.raises(ValueError, match="expired"):
        decode_token(strict, dev_token(exp=now - 10))


def test_operators_see_only_their_own_tenant_and_auditors_see_all() -> None:
    operator = Principal("u", "operator", "op-1")
    assert operator.may_see_operator("op-1") and not operator.may_see_operator("op-2")
    assert not operator.may_see_operator(None)
    assert Principal("a", "auditor").may_see_operator("op-2")
    assert not Principal("s", "sensor").may_see_operator("op-1")
