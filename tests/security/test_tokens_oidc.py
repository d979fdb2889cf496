"""Production tokens: verified with the issuer's published keys (a real JWKS over HTTP on loopback)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from shared.auth import KeysUnavailable, decode_token
from shared.config import Settings
from tests.security.tokens_issuer import AUDIENCE, Issuer


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    server = Issuer()
    yield server
    server.stop()


def oidc(issuer: Issuer, tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"data_dir": tmp_path, "oidc_issuer": issuer.url, "oidc_audience": AUDIENCE}
    return Settings(**values | overrides)


def test_rs256_and_es256_tokens_of_the_issuer_are_accepted_after_discovery(issuer: Issuer, tmp_path: Path) -> None:
    settings = oidc(issuer, tmp_path)
    soc = decode_token(settings, issuer.token())
    operator = decode_token(settings, issuer.token(kid=issuer.ec_kid, role="operator", operator_id="op-1", sub="u-7"))
    assert (soc.role, soc.sub) == ("utility_soc", "analyst-1")
    assert (operator.role, operator.operator_id, operator.sub) == ("operator", "op-1", "u-7")
    assert issuer.fetches == {"discovery": 1, "jwks": 1}


def test_the_keys_are_cached_and_a_configured_jwks_url_skips_discovery(issuer: Issuer, tmp_path: Path) -> None:
    settings = oidc(issuer, tmp_path, oidc_jwks_url=issuer.url + "/jwks.json")
    for _ in range(5):
        decode_token(settings, issuer.token())
    assert issuer.fetches == {"discovery": 0, "jwks": 1}


def test_a_rotated_key_is_fetched_when_a_token_names_it(issuer: Issuer, tmp_path: Path) -> None:
    settings = oidc(issuer, tmp_path, oidc_jwks_refresh_seconds=0)
    decode_token(settings, issuer.token())
    rotated = issuer.add_key("RS256")  # published after the services fetched the keys
    assert decode_token(settings, issuer.token(kid=rotated)).role == "utility_soc"
    assert issuer.fetches["jwks"] == 2


def test_tokens_naming_unknown_keys_fetch_the_keys_again_at_most_once_per_refresh_interval(issuer: Issuer, tmp_path: Path) -> None:
    settings = oidc(issuer, tmp_path, oidc_jwks_refresh_seconds=300)
    decode_token(settings, issuer.token())
    for _ in range(20):
        unknown = issuer.add_key("ES256", publish=False)
        with pytest.raises(ValueError, match="kid"):
            decode_token(settings, issuer.token(kid=unknown))
    assert issuer.fetches["jwks"] == 1


def test_an_issuer_that_does_not_answer_makes_keys_unavailable_not_a_crash(issuer: Issuer, tmp_path: Path) -> None:
    issuer.down = True
    with pytest.raises(KeysUnavailable, match="discovery"):
        decode_token(oidc(issuer, tmp_path), issuer.token())
    with pytest.raises(KeysUnavailable, match="signing keys"):
        decode_token(oidc(issuer, tmp_path, oidc_jwks_url=issuer.url + "/jwks.json"), issuer.token())
    issuer.down = False
    assert decode_token(oidc(issuer, tmp_path), issuer.token()).role == "utility_soc"  # it recovers


def test_roles_come_from_a_configured_claim_through_the_role_map(issuer: Issuer, tmp_path: Path) -> None:
    settings = oidc(issuer, tmp_path, oidc_role_claim="realm_access.roles", oidc_operator_claim="tenant",
                    oidc_role_map="soc-analysts=utility_soc, partners=operator")  # fmt: skip
    soc = issuer.token(role=None, realm_access={"roles": ["offline_access", "soc-analysts"]})
    partner = issuer.token(role=None, realm_access={"roles": ["partners"]}, tenant="op-9")
    assert decode_token(settings, soc).role == "utility_soc"
    assert (decode_token(settings, partner).role, decode_token(settings, partner).operator_id) == ("operator", "op-9")
    for claims, reason in [
        ({"realm_access": {"roles": ["utility_soc"]}}, "no smguard role"),  # only mapped names count
        ({"realm_access": {"roles": ["soc-analysts", "partners"]}, "tenant": "op-9"}, "more than one"),
        ({"realm_access": {"roles": ["partners"]}}, "'tenant'"),  # an operator without its tenant
    ]:
        with pytest.raises(ValueError, match=reason):
            decode_token(settings, issuer.token(role=None, **claims))
