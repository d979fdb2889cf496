"""The command line and tokens: `smguard token` only in development, SMGUARD_TOKEN first, least privilege,
and `smguard serve` refusing a development key beyond loopback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from shared.auth import decode_token
from shared.cli.client import client
from shared.config import Settings
from shared.demo.client import DemoError, Smguard

KEY = "8xQm2-vLr0Zt9KpWcY4sHn7JbA1uFeD6gTiO3wVq5Ns"
ISSUER = {"SMGUARD_OIDC_ISSUER": "https://id.example.jp/realms/grid", "SMGUARD_OIDC_AUDIENCE": "smguard-api"}


def smguard(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("SMGUARD_")} | {"SMGUARD_DATA_DIR": str(tmp_path)}
    return subprocess.run([sys.executable, "-m", "shared.cli", *args], capture_output=True, text=True, timeout=60,
                          env=base | env)  # fmt: skip


def test_smguard_token_mints_a_development_token_without_an_issuer(tmp_path: Path) -> None:
    done = smguard(tmp_path, "token", "--role", "utility_desk", SMGUARD_JWT_SECRET=KEY)
    assert done.returncode == 0, done.stderr
    assert decode_token(Settings(data_dir=tmp_path, jwt_secret=KEY), done.stdout.strip()).role == "utility_desk"


def test_smguard_token_refuses_when_an_issuer_is_set(tmp_path: Path) -> None:
    done = smguard(tmp_path, "token", "--role", "utility_soc", SMGUARD_JWT_SECRET=KEY, **ISSUER)
    assert done.returncode != 0 and done.stdout == ""
    assert "identity provider" in done.stderr and "SMGUARD_TOKEN" in done.stderr and "Traceback" not in done.stderr


def test_smguard_token_refuses_a_well_known_key(tmp_path: Path) -> None:
    done = smguard(tmp_path, "token", "--role", "auditor", SMGUARD_JWT_SECRET="smguard-compose-development-only")
    assert done.returncode != 0 and done.stdout == "" and "SMGUARD_JWT_SECRET" in done.stderr


@pytest.mark.parametrize(
    "env, says",
    [({"SMGUARD_HOST": "0.0.0.0"}, "not a loopback address"),
     ({"SMGUARD_JWT_SECRET": "change-me-please-0123456789-abcdefghij"}, "well-known"),
     ({"SMGUARD_OIDC_ISSUER": "https://id.example.jp"}, "SMGUARD_OIDC_AUDIENCE is required")],
)  # fmt: skip
def test_smguard_serve_refuses_unsafe_token_settings_before_starting(tmp_path: Path, env: dict[str, str], says: str) -> None:
    done = smguard(tmp_path, "serve", "audit", **env)
    assert done.returncode == 2, done.stderr
    assert says in done.stderr and "Traceback" not in done.stderr


async def test_in_development_a_command_without_smguard_token_mints_an_auditor_token(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, jwt_secret=KEY)
    async with client(settings, "audit") as http:
        principal = decode_token(settings, http.headers["Authorization"].removeprefix("Bearer "))
    assert (principal.role, principal.sub) == ("auditor", "smguard-cli")


async def test_smguard_token_is_sent_as_it_is_in_either_mode(tmp_path: Path) -> None:
    for extra in ({}, {"oidc_issuer": ISSUER["SMGUARD_OIDC_ISSUER"], "oidc_audience": "smguard-api"}):
        settings = Settings(data_dir=tmp_path, jwt_secret=KEY, token=SecretStr("a-provider-token"), **extra)
        async with client(settings, "audit") as http:
            assert http.headers["Authorization"] == "Bearer a-provider-token"


def test_smguard_token_is_read_from_the_environment_and_never_shown(monkeypatch) -> None:
    monkeypatch.setenv("SMGUARD_TOKEN", "eyJ-secret-token")
    settings = Settings()
    assert settings.token is not None and settings.token.get_secret_value() == "eyJ-secret-token"
    assert "eyJ-secret-token" not in repr(settings)


def test_the_demo_refuses_to_play_against_an_identity_provider(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, oidc_issuer=ISSUER["SMGUARD_OIDC_ISSUER"], oidc_audience="smguard-api")
    demo = Smguard(settings, {"audit": "http://127.0.0.1:9"})
    try:
        with pytest.raises(DemoError, match="development token"):
            demo.call("GET", "audit", "/audit/entries", as_="auditor")
    finally:
        demo.close()
