"""Bearer JWT authentication and the role checks routes declare (the tenancy rules are in ``shared.principal``)."""

from __future__ import annotations

import time
from typing import Annotated, Callable

import jwt
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared import devsecrets
from shared.config import Settings, get_settings
from shared.principal import ROLES, Principal

_ALGORITHM = "HS256"

def signing_key(settings: Settings) -> str:
    """The HMAC key: from settings, else a development key generated once into the data folder."""
    return devsecrets.configured_or_dev(settings.jwt_secret, settings.data_dir, devsecrets.JWT_SIGNING_KEY).decode()


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


Soc = Annotated[Principal, Depends(require_roles("utility_soc"))]
Parties = Annotated[Principal, Depends(require_roles("utility_soc", "operator"))]
Readers = Annotated[Principal, Depends(require_roles("utility_soc", "utility_desk", "operator", "auditor"))]
UtilityReaders = Annotated[Principal, Depends(require_roles("utility_soc", "utility_desk", "auditor"))]
SocOrAuditor = Annotated[Principal, Depends(require_roles("utility_soc", "auditor"))]
Replayers = SocOrAuditor  # who may see the operations views (parked events, live read models)
SensorOrSoc = Annotated[Principal, Depends(require_roles("sensor", "utility_soc"))]
