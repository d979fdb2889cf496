"""JWT attacks on a real service route (the audit app on the real broker), in both token modes:
each forged, stale or misaddressed token is a 401 with a Bearer challenge; the honest one is a 200."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
import uuid
from typing import Any, AsyncIterator, Callable, Iterator

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from services.audit.bootstrap import build_app
from shared.config import Settings
from tests.factories import TEST_SECRET, delete_topics, listening, make_settings, serving
from tests.security.tokens_issuer import AUDIENCE, Issuer

ROUTE = "/audit/entries"


def now() -> int:
    """The time each token is made at: a module-level constant would expire before a long run reaches these tests."""
    return int(time.time())


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: dict[str, Any], claims: dict[str, Any], hmac_key: bytes | None = None) -> str:
    """A token built by hand: unsigned (``alg: none``) or HMAC-signed with any bytes."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = b64(hmac.new(hmac_key, signing_input.encode(), hashlib.sha256).digest()) if hmac_key else ""
    return f"{signing_input}.{signature}"


def dev_claims(**overrides: Any) -> dict[str, Any]:
    values = {"sub": "analyst-1", "role": "utility_soc", "iss": "smguard", "iat": now(), "exp": now() + 600} | overrides
    return {k: v for k, v in values.items() if v is not None}


def dev(key: str = TEST_SECRET, **overrides: Any) -> str:
    return jwt.encode(dev_claims(**overrides), key, algorithm="HS256")


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    server = Issuer()
    yield server
    server.stop()


async def _app(kafka_bootstrap: str, folder, **overrides: Any) -> AsyncIterator[tuple[Settings, httpx.AsyncClient]]:
    prefix = f"t{uuid.uuid4().hex[:8]}."
    settings = make_settings(kafka_bootstrap, prefix, folder, **overrides)
    app = build_app(settings)
    try:
        async with serving(app) as client:
            yield settings, client, app
    finally:
        delete_topics(kafka_bootstrap, prefix)


@pytest.fixture(scope="module")
async def development(kafka_bootstrap: str, tmp_path_factory) -> AsyncIterator[tuple[Settings, httpx.AsyncClient]]:
    """The audit service without an issuer: HS256 tokens signed with the test key."""
    async for served in _app(kafka_bootstrap, tmp_path_factory.mktemp("development")):
        yield served


@pytest.fixture(scope="module")
async def production(kafka_bootstrap: str, tmp_path_factory, issuer: Issuer) -> AsyncIterator[tuple[Settings, httpx.AsyncClient]]:
    """The audit service with an issuer (its development key still set: it must not count)."""
    async for served in _app(kafka_bootstrap, tmp_path_factory.mktemp("production"), oidc_issuer=issuer.url,
                             oidc_audience=AUDIENCE, oidc_jwks_refresh_seconds=0, oidc_jwks_cache_seconds=3600):  # fmt: skip
        yield served


async def call(client: httpx.AsyncClient, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return await client.get(ROUTE, params={"limit": 1}, headers=headers)


def refused(answer: httpx.Response) -> bool:
    return answer.status_code == 401 and answer.headers.get("www-authenticate") == "Bearer"


# --------------------------------------------------------------------------- development (HS256, local key)

DEVELOPMENT_ATTACKS: dict[str, Callable[[], str]] = {
    "expired": lambda: dev(exp=now() - 120),
    "not yet valid (nbf)": lambda: dev(nbf=now() + 3600),
    "issued in the future (iat)": lambda: dev(iat=now() + 3600),
    "signed with another key": lambda: dev(key="another-key-" + TEST_SECRET),
    "alg none": lambda: forge({"alg": "none", "typ": "JWT"}, dev_claims()),
    "alg none, no signature part": lambda: forge({"alg": "none"}, dev_claims()).rstrip("."),
    "another issuer": lambda: dev(iss="someone-else"),
    "no sub": lambda: dev(sub=None),
    "no role": lambda: dev(role=None),
    "no exp": lambda: dev(exp=None),
    "unknown role": lambda: dev(role="root"),
    "operator without operator_id": lambda: dev(role="operator"),
    "garbage": lambda: "not-a-token",
    "three garbage parts": lambda: "a.b.c",
}


async def test_development_an_honest_token_is_let_in(development) -> None:
    _, client, _ = development
    assert (await call(client, dev())).status_code == 200
    assert (await call(client, dev(role="operator", operator_id="op-1"))).status_code == 200


@pytest.mark.parametrize("attack", DEVELOPMENT_ATTACKS)
async def test_development_attack_is_refused(development, attack: str) -> None:
    _, client, _ = development
    answer = await call(client, DEVELOPMENT_ATTACKS[attack]())
    assert refused(answer), (answer.status_code, answer.text)
    assert answer.json()["detail"].startswith("invalid token")


async def test_development_no_token_is_refused(development) -> None:
    _, client, _ = development
    assert refused(await call(client, None))


async def test_development_an_rs256_token_is_refused(development, issuer: Issuer) -> None:
    _, client, _ = development
    assert refused(await call(client, jwt.encode(dev_claims(), issuer.keys[issuer.rsa_kid], algorithm="RS256")))


# --------------------------------------------------------------------------- production (the issuer's JWKS)


def _public_pem(issuer: Issuer) -> bytes:
    return issuer.keys[issuer.rsa_kid].public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


PRODUCTION_ATTACKS: dict[str, Callable[[Issuer], str]] = {
    "expired": lambda i: i.token(exp=now() - 120),
    "not yet valid (nbf)": lambda i: i.token(nbf=now() + 3600),
    "issued in the future (iat)": lambda i: i.token(iat=now() + 3600),
    "signed with a key the issuer does not publish, naming a published kid": lambda i: jwt.encode(
        i.claims(), i.keys[i.add_key("RS256", publish=False)], algorithm="RS256", headers={"kid": i.rsa_kid}),
    "signed with an unknown key": lambda i: i.token(kid=i.add_key("ES256", publish=False)),
    "alg none": lambda i: forge({"alg": "none", "kid": i.rsa_kid}, i.claims()),
    "HS256 signed with the issuer's RSA public key (key confusion)": lambda i: forge(
        {"alg": "HS256", "typ": "JWT", "kid": i.rsa_kid}, i.claims(), _public_pem(i)),
    "a development token (HS256 with the development key)": lambda i: dev(iss=i.url, aud=AUDIENCE),
    "RS256 header on an ES256 key": lambda i: forge({"alg": "RS256", "kid": i.ec_kid}, i.claims(), b"x" * 32),
    "another audience": lambda i: i.token(aud="another-app"),
    "no audience": lambda i: i.token(aud=None),
    "another issuer": lambda i: i.token(iss="https://evil.example"),
    "no sub": lambda i: i.token(sub=None),
    "no role": lambda i: i.token(role=None),
    "no exp": lambda i: i.token(exp=None),
    "unknown role": lambda i: i.token(role="root"),
    "operator without operator_id": lambda i: i.token(role="operator"),
    "no kid": lambda i: jwt.encode(i.claims(), i.keys[i.rsa_kid], algorithm="RS256"),
    "garbage": lambda i: "not-a-token",
}


async def test_production_honest_rs256_and_es256_tokens_are_let_in(production, issuer: Issuer) -> None:
    _, client, _ = production
    assert (await call(client, issuer.token())).status_code == 200
    assert (await call(client, issuer.token(kid=issuer.ec_kid, role="operator", operator_id="op-1"))).status_code == 200


@pytest.mark.parametrize("attack", PRODUCTION_ATTACKS)
async def test_production_attack_is_refused(production, issuer: Issuer, attack: str) -> None:
    _, client, _ = production
    answer = await call(client, PRODUCTION_ATTACKS[attack](issuer))
    assert refused(answer), (answer.status_code, answer.text)


async def test_production_an_unreachable_issuer_is_a_503_and_cached_keys_keep_working(production, issuer: Issuer) -> None:
    _, client, _ = production
    assert (await call(client, issuer.token())).status_code == 200  # the keys are cached
    issuer.down = True
    try:
        rotated = await call(client, issuer.token(kid=issuer.add_key("ES256")))  # needs the keys fetched again
        known = await call(client, issuer.token())
    finally:
        issuer.down = False
    assert rotated.status_code == 503 and "identity provider" in rotated.json()["detail"]
    assert known.status_code == 200


# --------------------------------------------------------------------------- the command line with a provider's token


def _cli_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMGUARD_")}
    return env | {"SMGUARD_DATA_DIR": str(settings.data_dir), **extra}


async def test_the_audit_command_sends_smguard_token_and_without_one_says_to_set_it(production, issuer: Issuer) -> None:
    settings, _, app = production
    oidc = {"SMGUARD_OIDC_ISSUER": issuer.url, "SMGUARD_OIDC_AUDIENCE": AUDIENCE}
    async with listening(app, lifespan="off") as url:
        command = [sys.executable, "-m", "shared.cli", "verify", "--url", url]
        with_token = await asyncio.to_thread(
            subprocess.run, command, capture_output=True, text=True, timeout=60,
            env=_cli_env(settings, SMGUARD_TOKEN=issuer.token(role="auditor", sub="auditor-1"), **oidc),
        )  # fmt: skip
        without = await asyncio.to_thread(
            subprocess.run, command, capture_output=True, text=True, timeout=60, env=_cli_env(settings, **oidc)
        )
    assert with_token.returncode == 0, with_token.stderr
    assert json.loads(with_token.stdout)["ok"] is True
    assert without.returncode == 2 and "SMGUARD_TOKEN" in without.stderr and "Traceback" not in without.stderr
