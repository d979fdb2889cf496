"""Signing in and out, and the language toggle.

With ``SMGUARD_OIDC_ISSUER`` set, sign-in is the authorization-code flow with PKCE (S256) at that issuer
(Authlib's OAuth 2 client): the console keeps the verifier, state and nonce of a pending sign-in on the
server, and the access token it gets back is what the services verify. Without an issuer (development
only), a form picks a role and an operator and the console mints a development token, and only for a
browser on loopback. Either way the new session gets a fresh id (no fixation) in an HttpOnly cookie.
"""

from __future__ import annotations

import os
import warnings
from typing import Any
from urllib.parse import urlencode, urlparse

import httpx
import jwt
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from shared.auth import TokenConfigError, decode_token, is_loopback, mint_token
from services.console.i18n import LANGS, t
from services.console.sessions import COOKIE, PENDING_COOKIE, same_token, safe_next
from services.console.web import CONSOLE_ROLES, TEMPLATES, BadForm, base_context

with warnings.catch_warnings():  # Authlib's note that its httpx integration will move to a new package
    warnings.simplefilter("ignore")
    from authlib.common.security import generate_token
    from authlib.integrations.httpx_client import AsyncOAuth2Client

router = APIRouter()
HOME = {"utility_soc": "/", "utility_desk": "/", "operator": "/portal", "auditor": "/audit"}
LANG_COOKIE = "smguard_lang"


def _cookie(response: Response, request: Request, name: str, value: str, *, max_age: int) -> None:
    secure = request.app.state.options.secure_cookies
    response.set_cookie(name, value, max_age=max_age, httponly=True, secure=secure, samesite="lax", path="/")


def _lang(request: Request) -> str:
    lang = request.cookies.get(LANG_COOKIE, "ja")
    return lang if lang in LANGS else "ja"


def _signin_page(request: Request, *, csrf: str, error: str | None = None, status: int = 200, next_url: str = "/") -> Response:
    settings = request.app.state.settings
    context = base_context(request, None, _lang(request))
    return TEMPLATES.TemplateResponse(request, "signin.html", {
        **context, "csrf": csrf, "error": error, "next": next_url, "oidc": bool(settings.oidc_issuer),
        "roles": CONSOLE_ROLES,
    }, status_code=status)  # fmt: skip


@router.get("/signin", include_in_schema=False)
async def signin_form(request: Request, next: str = "/") -> Response:
    """The sign-in page: a button to the identity provider, or (development) the role form."""
    sessions = request.app.state.sessions
    pending = sessions.begin(lang=_lang(request), next_url=safe_next(next))
    response = _signin_page(request, csrf=pending.csrf, next_url=pending.next)
    _cookie(response, request, PENDING_COOKIE, pending.id, max_age=600)
    return response


def _open(request: Request, token: str, lang: str, next_url: str) -> Response:
    """A new session for a verified token; the browser goes where it was going (or its role's home)."""
    principal = decode_token(request.app.state.settings, token)
    if principal.role not in CONSOLE_ROLES:
        raise ValueError(t("signin.not_console_role", lang))
    expires = jwt.decode(token, options={"verify_signature": False}).get("exp")
    sessions = request.app.state.sessions
    sessions.close(request.cookies.get(COOKIE))
    session = sessions.open(token, principal, token_expires=float(expires) if expires else None, lang=lang)
    target = next_url if next_url != "/" else HOME.get(principal.role, "/")
    response = RedirectResponse(target, status_code=303)
    _cookie(response, request, COOKIE, session.id, max_age=int(sessions.ttl))
    response.delete_cookie(PENDING_COOKIE, path="/")
    return response


@router.post("/signin", include_in_schema=False)
async def signin(request: Request) -> Response:
    """Development sign-in (no issuer, loopback only): a token for the chosen role and operator."""
    sessions, settings = request.app.state.sessions, request.app.state.settings
    pending = sessions.pending(request.cookies.get(PENDING_COOKIE))
    lang = _lang(request)
    if pending is None:
        return RedirectResponse("/signin?" + urlencode({"notice": "signin.expired"}), status_code=303)
    form = await request.form(max_files=0, max_fields=10)
    if not same_token(pending.csrf, form.get("csrf") if isinstance(form.get("csrf"), str) else None):  # type: ignore[arg-type]
        raise BadForm()
    if settings.oidc_issuer:
        return RedirectResponse("/signin/oidc", status_code=303)
    client = request.client.host if request.client else ""
    if not is_loopback(client) and not settings.jwt_allow_non_loopback:  # the compose file's published-on-loopback case
        return _signin_page(request, csrf=pending.csrf, error=t("signin.loopback_only", lang), status=403, next_url=pending.next)
    role = str(form.get("role", ""))
    operator_id = str(form.get("operator_id", "")).strip() or None
    if role not in CONSOLE_ROLES:
        return _signin_page(request, csrf=pending.csrf, error=t("signin.not_console_role", lang), status=422, next_url=pending.next)
    if role == "operator" and not operator_id:
        return _signin_page(request, csrf=pending.csrf, error=t("signin.need_operator", lang), status=422, next_url=pending.next)
    if role != "operator":
        operator_id = None
    try:
        token = mint_token(settings, role=role, operator_id=operator_id, sub=f"console:{role}" + (f":{operator_id}" if operator_id else ""))
        response = _open(request, token, lang, pending.next)
    except (ValueError, TokenConfigError) as exc:
        return _signin_page(request, csrf=pending.csrf, error=t("signin.failed", lang, reason=str(exc)), status=422, next_url=pending.next)
    sessions.finish(pending.id)
    return response


async def _discover(request: Request) -> dict[str, Any]:
    """The issuer's OpenID configuration (fetched once, then kept)."""
    cached = getattr(request.app.state, "oidc_metadata", None)
    if cached:
        return cached
    issuer = request.app.state.settings.oidc_issuer.rstrip("/")
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(f"{issuer}/.well-known/openid-configuration")
        response.raise_for_status()
        metadata = response.json()
    request.app.state.oidc_metadata = metadata
    return metadata


def _oauth_client(request: Request) -> AsyncOAuth2Client:
    options, settings = request.app.state.options, request.app.state.settings
    issuer = urlparse(settings.oidc_issuer)
    if issuer.scheme == "http" and is_loopback(issuer.hostname or ""):
        os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")  # a development issuer on this machine only
    secret = options.oidc_client_secret.get_secret_value() if options.oidc_client_secret else None
    return AsyncOAuth2Client(
        client_id=options.oidc_client_id, client_secret=secret, scope=options.oidc_scope,
        redirect_uri=options.console_public_url.rstrip("/") + "/signin/callback", code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic" if secret else "none", timeout=15,
    )  # fmt: skip


@router.get("/signin/oidc", include_in_schema=False)
async def signin_oidc(request: Request) -> Response:
    """Off to the identity provider: authorization code with PKCE; state and nonce kept for the way back."""
    sessions = request.app.state.sessions
    pending = sessions.pending(request.cookies.get(PENDING_COOKIE)) or sessions.begin(lang=_lang(request))
    lang = pending.lang
    if not request.app.state.settings.oidc_issuer or not request.app.state.options.oidc_client_id:
        return _signin_page(request, csrf=pending.csrf, status=503, error=t("signin.failed", lang, reason="SMGUARD_OIDC_CLIENT_ID is not set"))
    try:
        metadata = await _discover(request)
    except (httpx.HTTPError, ValueError) as exc:
        return _signin_page(request, csrf=pending.csrf, status=503, error=t("signin.failed", lang, reason=f"identity provider: {exc}"))
    pending.verifier, pending.nonce = generate_token(64), generate_token(32)
    async with _oauth_client(request) as client:
        url, state = client.create_authorization_url(metadata["authorization_endpoint"], code_verifier=pending.verifier,
                                                     nonce=pending.nonce)  # fmt: skip
    pending.state = state
    response = RedirectResponse(url, status_code=303)
    _cookie(response, request, PENDING_COOKIE, pending.id, max_age=600)
    return response


@router.get("/signin/callback", include_in_schema=False)
async def signin_callback(request: Request, code: str = "", state: str = "", error: str = "") -> Response:
    """Back from the identity provider: the state must be this browser's; the code is exchanged with the verifier."""
    sessions = request.app.state.sessions
    pending = sessions.pending(request.cookies.get(PENDING_COOKIE))
    lang = _lang(request)
    if pending is None or not pending.state or not same_token(pending.state, state):
        fresh = sessions.begin(lang=lang)
        response = _signin_page(request, csrf=fresh.csrf, status=400, error=t("signin.expired", lang))
        _cookie(response, request, PENDING_COOKIE, fresh.id, max_age=600)
        return response
    sessions.finish(pending.id)
    if error or not code:
        return _signin_page(request, csrf=pending.csrf, status=400, error=t("signin.failed", lang, reason=error or "no code"))
    try:
        metadata = await _discover(request)
        async with _oauth_client(request) as client:
            token = await client.fetch_token(metadata["token_endpoint"], code=code, code_verifier=pending.verifier)
        return _open(request, token["access_token"], pending.lang, pending.next)
    except Exception as exc:  # noqa: BLE001 - Authlib, httpx and the token check each raise their own kinds: all a failed sign-in
        return _signin_page(request, csrf=pending.csrf, status=400, error=t("signin.failed", lang, reason=str(exc)[:300]))


@router.post("/signout", include_in_schema=False)
async def signout(request: Request) -> Response:
    """Sign out (the form carries the session's CSRF token): the session id is no longer accepted."""
    sessions = request.app.state.sessions
    session = sessions.get(request.cookies.get(COOKIE))
    if session is not None:
        form = await request.form(max_files=0, max_fields=10)
        if not same_token(session.csrf, form.get("csrf") if isinstance(form.get("csrf"), str) else None):  # type: ignore[arg-type]
            raise BadForm()
        sessions.close(session.id)
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/lang/{lang}", include_in_schema=False)
async def switch_language(request: Request, lang: str, next: str = "/") -> Response:
    """Japanese or English for this browser (its session, and a cookie for the sign-in page)."""
    lang = lang if lang in LANGS else "ja"
    session = request.app.state.sessions.get(request.cookies.get(COOKIE))
    if session is not None:
        session.lang = lang
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, httponly=True, samesite="lax", path="/",
                        secure=request.app.state.options.secure_cookies)  # fmt: skip
    return response
