"""Bearer JWT authentication and per-object authorisation (roles and operator tenancy)."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Annotated, Callable, Literal

import jwt
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.config import Settings, get_settings

Role = Literal["utility_soc", "utility_desk", "operator", "sensor", "auditor"]
ROLES: tuple[str, ...] = ("utility_soc", "utility_desk", "operator", "sensor", "auditor")
UTILITY_ROLES = frozenset({"utility_soc", "utility_desk"})
READ_ALL_ROLES = frozenset({"utility_soc", "utility_desk", "auditor"})
_ALGORITHM = "HS256"


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller."""

    sub: str
    role: str
    operator_id: str | None = None

    @property
    def is_utility(self) -> bool:
        """utility_soc or utility_desk."""
        return self.role in UTILITY_ROLES

    def may_see_operator(self, operator_id: str | None) -> bool:
        """Utility roles and auditors see every tenant; an operator only its own."""
        if self.role in READ_ALL_ROLES:
            return True
        return self.role == "operator" and operator_id is not None and operator_id == self.operator_id

    def may_see_any(self, operator_ids: list[str]) -> bool:
        """Whether an object that concerns these operators is visible to the caller."""
        return self.role in READ_ALL_ROLES or (self.role == "operator" and self.operator_id in operator_ids)


def signing_key(settings: Settings) -> str:
    """The HMAC key: from settings, else a development key generated once into the data folder."""
    if settings.jwt_secret:
        return settings.jwt_secret
    path = settings.data_dir / "dev-signing-key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def mint_token(settings: Settings, *, role: str, operator_id: str | None = None, sub: str | None = None) -> str:
    """A signed token for a role (and an operator's tenant)."""
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
    return jwt.encode(claims, signing_key(settings), algorithm=_ALGORITHM)


def decode_token(settings: Settings, token: str) -> Principal:
    """Verify a token; ValueError with the reason when it is not acceptable."""
    try:
        claims = jwt.decode(
            token,
            signing_key(settings),
            algorithms=[_ALGORITHM],
            issuer=settings.jwt_issuer,
            options={"require": ["sub", "role", "exp"]},
        )
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


def authenticate(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """FastAPI dependency: the caller, or 401."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    settings = getattr(request.app.state, "settings", None) or get_settings()
    try:
        principal = decode_token(settings, credentials.credentials)
    except ValueError as exc:
        raise HTTPException(401, f"invalid token: {exc}", headers={"WWW-Authenticate": "Bearer"}) from None
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(authenticate)]


def require_roles(*roles: str) -> Callable[[Principal], Principal]:
    """FastAPI dependency factory: the caller, or 403 when its role is not one of ``roles``."""
    allowed = frozenset(roles)

    def check(principal: CurrentPrincipal) -> Principal:
        if principal.role not in allowed:
            raise HTTPException(403, f"role {principal.role} may not do this")
        return principal

    return check
