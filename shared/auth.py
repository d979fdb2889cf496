"""Bearer JWT authentication and the role checks routes declare (the tenancy rules are in ``shared.principal``).

Two modes, chosen by ``SMGUARD_OIDC_ISSUER``:

* **Production (an issuer is set)**: tokens come from the identity provider and are verified with
  its published keys (JWKS, found by OpenID discovery or ``SMGUARD_OIDC_JWKS_URL``), RS256 or ES256
  only, with ``iss``, ``aud``, ``exp`` and ``sub`` required. The role and the operator's tenant are
  read from configurable claims. smguard mints no token.
* **Development (no issuer)**: tokens are HS256, signed with one shared key (``SMGUARD_JWT_SECRET``,
  ``SMGUARD_JWT_SECRET_FILE``, or a random key generated into the data folder); a service in this
  mode serves loopback only.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import threading
import time
import urllib.request
from typing import Annotated, Any, Callable
from urllib.parse import urlparse

import jwt
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from shared import devsecrets
from shared.config import Settings, get_settings
from shared.principal import ROLES, Principal

_DEV_ALGORITHM = "HS256"
OIDC_ALGORITHMS = ("RS256", "ES256")
MIN_KEY_BYTES = 32
WELL_KNOWN_KEYS = frozenset({
    "secret", "secretkey", "secret-key", "jwt-secret", "jwtsecret", "changeme", "change-me", "change_me",
    "password", "your-256-bit-secret", "your-secret-key", "smguard", "smguard-compose-development-only",
    "development", "development-only", "test", "testing",
})  # fmt: skip
_WELL_KNOWN_PREFIXES = ("change-me", "changeme", "change_me", "replace-me", "replaceme", "your-", "example")

log = logging.getLogger(__name__)


class TokenConfigError(ValueError):
    """The token settings cannot be used safely; the message says what to set."""


class KeysUnavailable(RuntimeError):
    """The issuer's keys cannot be fetched right now (its discovery document or JWKS does not answer)."""


# --------------------------------------------------------------------------- settings checked at start-up


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address to listen on) reaches this machine only."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_settings(settings: Settings) -> None:
    """Refuse settings a service must not start with (TokenConfigError, with what to set instead)."""
    if settings.oidc_issuer:
        if not settings.oidc_audience:
            raise TokenConfigError(
                "SMGUARD_OIDC_AUDIENCE is required when SMGUARD_OIDC_ISSUER is set: the audience (aud) this "
                "deployment's tokens are issued for, so that a token meant for another application is refused"
            )
        for name, url in (("SMGUARD_OIDC_ISSUER", settings.oidc_issuer), ("SMGUARD_OIDC_JWKS_URL", settings.oidc_jwks_url)):
            if url:
                _check_url(name, url)
        role_map(settings)
        return
    if not is_loopback(settings.host) and not settings.jwt_allow_non_loopback:
        raise TokenConfigError(
            f"SMGUARD_HOST={settings.host} is not a loopback address, and no identity provider is set: "
            "development tokens (HS256, one shared key) serve this machine only. Set SMGUARD_OIDC_ISSUER and "
            "SMGUARD_OIDC_AUDIENCE to accept your identity provider's tokens, or listen on 127.0.0.1"
        )
    signing_key(settings)


def _check_url(name: str, url: str) -> None:
    parsed = urlparse(url)
    if parsed.scheme == "https" and parsed.hostname:
        return
    if parsed.scheme == "http" and parsed.hostname and is_loopback(parsed.hostname):
        return  # an identity provider on this machine (a test, a local stand-in)
    raise TokenConfigError(f"{name}={url!r} must be an https:// URL (http:// only for a provider on loopback)")


def role_map(settings: Settings) -> dict[str, str]:
    """The identity provider's role names mapped to smguard's roles (``SMGUARD_OIDC_ROLE_MAP``)."""
    mapping: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in settings.oidc_role_map.split(","))):
        name, sep, role = (text.strip() for text in item.partition("="))
        if not sep or not name or role not in ROLES:
            raise TokenConfigError(
                f"SMGUARD_OIDC_ROLE_MAP: {item!r} is not <provider role>=<smguard role> (roles: {', '.join(ROLES)})"
            )
        mapping[name] = role
    return mapping


# --------------------------------------------------------------------------- development: HS256 with a local key


def signing_key(settings: Settings) -> str:
    """The development HMAC key: configured, from a file, or generated once into the data folder.

    TokenConfigError when the key is too short or a well-known value.
    """
    if settings.jwt_secret and settings.jwt_secret_file:
        raise TokenConfigError("set SMGUARD_JWT_SECRET or SMGUARD_JWT_SECRET_FILE, not both")
    if settings.jwt_secret_file:
        try:
            key = settings.jwt_secret_file.read_bytes().strip()
        except OSError as exc:
            raise TokenConfigError(f"SMGUARD_JWT_SECRET_FILE: cannot read the key: {exc.strerror}") from None
        source = "SMGUARD_JWT_SECRET_FILE"
    else:
        key = devsecrets.configured_or_dev(settings.jwt_secret, settings.data_dir, devsecrets.JWT_SIGNING_KEY)
        source = "SMGUARD_JWT_SECRET" if settings.jwt_secret else f"the key file in {settings.data_dir}"
    problem = weak_key_problem(key)
    if problem:
        raise TokenConfigError(f"{source}: {problem}; use 32 or more random bytes, e.g. `openssl rand -base64 32`")
    return key.decode()


def weak_key_problem(key: bytes) -> str | None:
    """Why a signing key is unfit (too short, a well-known value, too little variety), or None."""
    if len(key) < MIN_KEY_BYTES:
        return f"the signing key has {len(key)} bytes, fewer than {MIN_KEY_BYTES}"
    folded = key.decode(errors="replace").strip().lower()
    if folded in WELL_KNOWN_KEYS or folded.startswith(_WELL_KNOWN_PREFIXES):
        return "the signing key is a well-known default"
    if len(set(key)) < 8:
        return "the signing key repeats a few characters"
    return None


def mint_token(settings: Settings, *, role: str, operator_id: str | None = None, sub: str | None = None) -> str:
    """A development token for a role (and an operator's tenant), signed with the development key.

    TokenConfigError when an issuer is set: then tokens come from the identity provider.
    """
    if settings.oidc_issuer:
        raise TokenConfigError(
            f"tokens come from the identity provider {settings.oidc_issuer} (SMGUARD_OIDC_ISSUER is set); "
            "smguard mints development tokens only without an issuer; get one from the provider "
            "(the commands take it from SMGUARD_TOKEN)"
        )
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    if role == "operator" and not operator_id:
        raise ValueError("an operator token needs --operator-id")
    now = int(time.time())
    claims = {
        "sub": sub or (f"{role}:{operator_id}" if operator_id else role),
        "role": role,
        "iss": settings.jwt_issuer,
        "iat": now,
        "exp": now + settings.token_ttl_seconds,
    }
    if operator_id:
        claims["operator_id"] = operator_id
    return jwt.encode(claims, signing_key(settings), algorithm=_DEV_ALGORITHM)


# --------------------------------------------------------------------------- production: the issuer's keys


class IssuerKeys:
    """The issuer's signing keys: found by discovery (once), cached, fetched again when they expire and —
    at most every ``oidc_jwks_refresh_seconds`` — when a token names a key not yet known (a rotation).

    Blocking I/O: call from a worker thread (FastAPI runs ``authenticate`` in its threadpool).
    """

    def __init__(self, settings: Settings) -> None:
        self.issuer = str(settings.oidc_issuer)
        self.jwks_url = settings.oidc_jwks_url
        self.timeout = settings.oidc_http_timeout_seconds
        self.cache_seconds = settings.oidc_jwks_cache_seconds
        self.refresh_seconds = settings.oidc_jwks_refresh_seconds
        self._client: jwt.PyJWKClient | None = None
        self._lock = threading.Lock()

    def key_for(self, token: str) -> jwt.PyJWK:
        """The key that signed ``token`` (by its ``kid``); ValueError for a token naming no known key,
        KeysUnavailable when the issuer cannot be asked."""
        header = jwt.get_unverified_header(token)
        if header.get("alg") not in OIDC_ALGORITHMS:
            raise ValueError(f"algorithm {header.get('alg')!r} is not accepted (only {', '.join(OIDC_ALGORITHMS)})")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise ValueError("the token names no signing key (kid)")
        try:
            return self._jwks_client().get_signing_key(kid)
        except jwt.PyJWKClientConnectionError as exc:
            log.warning("cannot fetch the issuer's keys from %s: %s", self.jwks_url, exc)
            raise KeysUnavailable("cannot fetch the identity provider's signing keys") from None
        except jwt.PyJWKClientError as exc:
            if "Unable to find a signing key" in str(exc):
                raise ValueError("no signing key of the issuer matches the token's kid") from None
            log.warning("the issuer's JWKS at %s is unusable: %s", self.jwks_url, exc)
            raise KeysUnavailable("the identity provider publishes no usable signing key") from None
        except (jwt.PyJWKError, jwt.PyJWKSetError) as exc:  # the provider's problem, not the caller's
            log.warning("the issuer's JWKS at %s is unusable: %s", self.jwks_url, exc)
            raise KeysUnavailable("the identity provider publishes no usable signing key") from None

    def _jwks_client(self) -> jwt.PyJWKClient:
        with self._lock:
            if self._client is None:
                url = self.jwks_url or self._discover()
                self.jwks_url = url
                self._client = jwt.PyJWKClient(
                    url, cache_jwk_set=True, lifespan=self.cache_seconds, timeout=self.timeout,
                    cooldown_duration=self.refresh_seconds,
                )  # fmt: skip
            return self._client

    def _discover(self) -> str:
        url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as answer:  # noqa: S310 - https or loopback (checked)
                document = json.load(answer)
        except (OSError, ValueError) as exc:
            log.warning("OpenID discovery at %s failed: %s", url, exc)
            raise KeysUnavailable("cannot reach the identity provider's discovery document") from None
        jwks_uri = document.get("jwks_uri") if isinstance(document, dict) else None
        if not isinstance(jwks_uri, str):
            raise KeysUnavailable("the identity provider's discovery document names no jwks_uri")
        try:
            _check_url("jwks_uri", jwks_uri)
        except TokenConfigError as exc:
            raise KeysUnavailable(str(exc)) from None
        return jwks_uri


_issuer_keys: dict[tuple[Any, ...], IssuerKeys] = {}
_issuer_keys_lock = threading.Lock()


def issuer_keys(settings: Settings) -> IssuerKeys:
    """The one key cache of this process for the settings' issuer."""
    identity = (settings.oidc_issuer, settings.oidc_jwks_url, settings.oidc_jwks_cache_seconds,
                settings.oidc_jwks_refresh_seconds, settings.oidc_http_timeout_seconds)  # fmt: skip
    with _issuer_keys_lock:
        if identity not in _issuer_keys:
            _issuer_keys[identity] = IssuerKeys(settings)
        return _issuer_keys[identity]


def _claim(claims: dict[str, Any], path: str) -> Any:
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _role_of(settings: Settings, claims: dict[str, Any]) -> str:
    value = _claim(claims, settings.oidc_role_claim)
    names = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    mapping = role_map(settings)
    roles = {mapping.get(n) if mapping else n for n in names if isinstance(n, str)} & set(ROLES)
    if not roles:
        raise ValueError(f"no smguard role in the {settings.oidc_role_claim!r} claim")
    if len(roles) > 1:
        raise ValueError(f"more than one smguard role in the {settings.oidc_role_claim!r} claim ({', '.join(sorted(roles))})")
    return roles.pop()


def _decode_oidc(settings: Settings, token: str) -> Principal:
    key = issuer_keys(settings).key_for(token)
    claims = jwt.decode(
        token, key, algorithms=list(OIDC_ALGORITHMS), audience=settings.oidc_audience, issuer=settings.oidc_issuer,
        leeway=settings.jwt_leeway_seconds, options={"require": ["sub", "exp", "iss", "aud"]},
    )  # fmt: skip
    role = _role_of(settings, claims)
    operator_id = _claim(claims, settings.oidc_operator_claim)
    if operator_id is not None and not isinstance(operator_id, str):
        raise ValueError(f"the {settings.oidc_operator_claim!r} claim is not a string")
    if role == "operator" and not operator_id:
        raise ValueError(f"operator token without the {settings.oidc_operator_claim!r} claim")
    return Principal(sub=str(claims["sub"]), role=role, operator_id=operator_id or None)


# --------------------------------------------------------------------------- verification, either mode


def decode_token(settings: Settings, token: str) -> Principal:
    """Verify a token; ValueError with the reason when it is not acceptable, KeysUnavailable when the
    issuer's keys cannot be fetched, TokenConfigError when the settings cannot verify anything."""
    try:
        if settings.oidc_issuer:
            return _decode_oidc(settings, token)
        claims = jwt.decode(
            token, signing_key(settings), algorithms=[_DEV_ALGORITHM], issuer=settings.jwt_issuer,
            leeway=settings.jwt_leeway_seconds, options={"require": ["sub", "role", "exp"]},
        )  # fmt: skip
    except jwt.PyJWTError as exc:
        raise ValueError(str(exc)) from None
    role = claims.get("role")
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    operator_id = claims.get("operator_id")
    if role == "operator" and not operator_id:
        raise ValueError("operator token without operator_id")
    return Principal(sub=str(claims["sub"]), role=role, operator_id=operator_id)


_bearer = HTTPBearer(auto_error=False)
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


async def authenticate(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """FastAPI dependency: the caller, or 401 (503 when the issuer's keys cannot be fetched).

    With an identity provider the token is checked in the threadpool (fetching the issuer's keys must
    never block the event loop); a development token (HS256, a local key) is checked in the loop: a
    request then costs no thread hand-off.
    """
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(401, "missing bearer token", headers=_CHALLENGE)
    settings = getattr(request.app.state, "settings", None) or get_settings()
    try:
        if settings.oidc_issuer:
            principal = await run_in_threadpool(decode_token, settings, credentials.credentials)
        else:
            principal = decode_token(settings, credentials.credentials)
    except TokenConfigError as exc:
        log.error("tokens cannot be verified: %s", exc)
        raise HTTPException(503, "tokens cannot be verified: the service's token settings are unusable") from None
    except KeysUnavailable as exc:
        raise HTTPException(503, f"tokens cannot be verified right now: {exc}; try again later",
                            headers={"Retry-After": "5"}) from None  # fmt: skip
    except ValueError as exc:
        raise HTTPException(401, f"invalid token: {exc}", headers=_CHALLENGE) from None
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(authenticate)]


def require_roles(*roles: str) -> Callable[[Principal], Principal]:
    """FastAPI dependency factory: the caller, or 403 when its role is not one of ``roles``."""
    allowed = frozenset(roles)

    async def check(principal: CurrentPrincipal) -> Principal:
        if principal.role not in allowed:
            raise HTTPException(403, f"role {principal.role} may not do this")
        return principal

    return check


Soc = Annotated[Principal, Depends(require_roles("utility_soc"))]
Parties = Annotated[Principal, Depends(require_roles("utility_soc", "operator"))]
Readers = Annotated[Principal, Depends(require_roles("utility_soc", "utility_desk", "operator", "auditor"))]
UtilityReaders = Annotated[Principal, Depends(require_roles("utility_soc", "utility_desk", "auditor"))]
SocOrAuditor = Annotated[Principal, Depends(require_roles("utility_soc", "auditor"))]
Replayers = SocOrAuditor  # who may see the operations views (parked events, live read models)
SensorOrSoc = Annotated[Principal, Depends(require_roles("sensor", "utility_soc"))]
