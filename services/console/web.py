"""What every page of the console shares: the signed-in user, their language, their calls, forms and errors.

A page route takes ``Page`` (or ``page_for(roles)``) and gets the session, the user's ``Api``, and a
``render`` that fills the base template (navigation by role, the language toggle, the CSRF token).
A state-changing route takes ``Form`` instead: the same, after the form's CSRF token was checked
against the session's (403 otherwise, and nothing is sent to any service).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Callable, Iterable, Mapping
from urllib.parse import quote, urlencode

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData

from services.console.api import Api, ApiError
from services.console.i18n import LANGS, age, jst, t
from services.console.sessions import COOKIE, Session, same_token

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
TEMPLATES.env.globals.update(jst=jst, urlencode=urlencode)
TEMPLATES.env.filters.update(jst=jst, quote=lambda s: quote(str(s), safe=""))

CONSOLE_ROLES = ("utility_soc", "utility_desk", "operator", "auditor")
"""Who may use the console (the sensor role is a machine's)."""

NAV: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("/", "nav.dashboard", ("utility_soc", "utility_desk")),
    ("/portal", "nav.portal", ("operator",)),
    ("/incidents", "nav.incidents", CONSOLE_ROLES),
    ("/connections", "nav.connections", ("utility_soc", "utility_desk", "operator", "auditor")),
    ("/operators", "nav.operators", ("utility_soc", "utility_desk", "auditor")),
    ("/vulnerabilities/new", "nav.vulnerabilities", ("utility_soc",)),
    ("/audit", "nav.audit", ("auditor", "utility_soc", "utility_desk")),
)
"""The navigation: path, message, who sees the link (the page itself checks again)."""


class SignInRequired(Exception):
    """No live session: the browser is sent to the sign-in page (and back here afterwards)."""


class NotAllowed(Exception):
    """The user's role may not open this page."""


class BadForm(Exception):
    """The form's CSRF token was missing or wrong."""


@dataclass
class Page:
    """A request of a signed-in user: their session, language, API calls and the page renderer."""

    request: Request
    session: Session

    @property
    def lang(self) -> str:
        return self.session.lang

    @property
    def principal(self) -> Any:
        return self.session.principal

    @property
    def api(self) -> Api:
        return self.request.app.state.services.as_user(self.session.token)

    def t(self, key: str, **values: object) -> str:
        return t(key, self.lang, **values)

    def render(self, template: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
        """A page in the base layout, in the user's language."""
        return TEMPLATES.TemplateResponse(self.request, template, {**base_context(self.request, self.session), **context},
                                          status_code=status_code)  # fmt: skip

    def redirect(self, path: str, *, notice: str | None = None) -> RedirectResponse:
        """After a form: see the result (303, so a reload does not post again); ``notice`` a message key."""
        if notice:
            path, hash_, fragment = path.partition("#")
            path += ("&" if "?" in path else "?") + urlencode({"notice": notice}) + hash_ + fragment
        return RedirectResponse(path, status_code=303)


def base_context(request: Request, session: Session | None, lang: str | None = None) -> dict[str, Any]:
    """What the base template needs: the words, the navigation for this role, the CSRF token."""
    lang = session.lang if session else (lang or request.cookies.get("smguard_lang") or "ja")
    lang = lang if lang in LANGS else "ja"
    role = session.principal.role if session else None
    return {
        "lang": lang,
        "t": lambda key, **values: t(key, lang, **values),
        "age": lambda value: age(value, lang=lang),
        "session": session,
        "principal": session.principal if session else None,
        "csrf": session.csrf if session else "",
        "nav": [(path, key) for path, key, roles in NAV if role in roles],
        "path": request.url.path,
        "here": str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""),
        "notice": request.query_params.get("notice"),
    }


def session_of(request: Request) -> Session:
    """The live session of the request's cookie, or SignInRequired."""
    session = request.app.state.sessions.get(request.cookies.get(COOKIE))
    if session is None:
        raise SignInRequired()
    return session


async def page(request: Request) -> Page:
    """FastAPI dependency: a signed-in user's page."""
    return Page(request, session_of(request))


def page_for(*roles: str) -> Callable[[Request], Any]:
    """FastAPI dependency factory: a signed-in user's page, or NotAllowed when their role is not one of ``roles``."""
    allowed = frozenset(roles)

    async def check(request: Request) -> Page:
        current = await page(request)
        if current.principal.role not in allowed:
            raise NotAllowed()
        return current

    return check


@dataclass
class FormPage(Page):
    """A signed-in user's form submission whose CSRF token matched: ``form`` holds its fields."""

    form: FormData | None = None

    def field(self, name: str, default: str = "") -> str:
        value = self.form.get(name) if self.form is not None else None
        return value.strip() if isinstance(value, str) else default

    def fields(self, name: str) -> list[str]:
        return [v.strip() for v in (self.form.getlist(name) if self.form is not None else []) if isinstance(v, str)]


def form_for(*roles: str) -> Callable[[Request], Any]:
    """FastAPI dependency factory: a form of a signed-in user of ``roles`` with the session's CSRF token."""
    allowed = frozenset(roles)

    async def check(request: Request) -> FormPage:
        session = session_of(request)
        form = await request.form(max_files=1, max_fields=200)
        if not same_token(session.csrf, form.get("csrf") if isinstance(form.get("csrf"), str) else None):  # type: ignore[arg-type]
            raise BadForm()
        if session.principal.role not in allowed:
            raise NotAllowed()
        return FormPage(request, session, form)

    return check


Signed = Annotated[Page, Depends(page)]


def paginate(items: list[Any], request: Request, *, size: int) -> tuple[list[Any], dict[str, Any]]:
    """One page of a list (``?page=N``), and what the pager shows."""
    try:
        number = max(1, int(request.query_params.get("page", "1")))
    except ValueError:
        number = 1
    pages = max(1, -(-len(items) // size))
    number = min(number, pages)
    query = {k: v for k, v in request.query_params.items() if k != "page"}
    link = lambda n: f"{request.url.path}?{urlencode({**query, 'page': n})}"  # noqa: E731
    return items[(number - 1) * size: number * size], {
        "page": number, "pages": pages, "total": len(items),
        "prev": link(number - 1) if number > 1 else None, "next": link(number + 1) if number < pages else None,
    }  # fmt: skip


def sort_rows(rows: list[Mapping[str, Any]], request: Request, allowed: Iterable[str], default: str) -> tuple[list[Any], str]:
    """Rows sorted by ``?sort=field`` (``-field`` descending) among ``allowed``; the sort applied."""
    wanted = request.query_params.get("sort") or default
    field = wanted.lstrip("-")
    if field not in set(allowed):
        wanted, field = default, default.lstrip("-")
    key = lambda row: (row.get(field) is None, str(row.get(field) if row.get(field) is not None else ""))  # noqa: E731
    return sorted(rows, key=key, reverse=wanted.startswith("-")), wanted


def error_response(request: Request, exc: Exception) -> Response:
    """The page for an exception a page raised: sign-in, a role that may not, a bad form, a service's refusal."""
    if isinstance(exc, SignInRequired):
        if request.headers.get("hx-request") or request.url.path.startswith("/live"):
            return Response(status_code=401)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/signin?{urlencode({'next': target})}", status_code=303)
    session = request.app.state.sessions.get(request.cookies.get(COOKIE))
    context = base_context(request, session)
    lang = context["lang"]
    if isinstance(exc, NotAllowed):
        status, title, detail = 403, t("error.403", lang), ""
    elif isinstance(exc, BadForm):
        status, title, detail = 403, t("error.csrf", lang), ""
    elif isinstance(exc, ApiError):
        status = exc.status if exc.status >= 400 else 502
        if exc.status == 0:
            title = t("error.unreachable", lang, service=exc.service)
        else:
            key = f"error.{exc.status}"
            title = t(key, lang) if key in _KNOWN else t("error.other", lang)
        detail = exc.detail
    else:
        raise exc
    back = request.headers.get("referer") if request.method != "GET" else None  # the form to correct
    back = back if back and back.startswith(str(request.base_url)) else None
    response = TEMPLATES.TemplateResponse(request, "error.html", {**context, "status": status, "title": title, "detail": detail, "back": back},
                                          status_code=status)  # fmt: skip
    if isinstance(exc, ApiError) and exc.retry_after:
        response.headers["Retry-After"] = exc.retry_after
    return response


_KNOWN = {f"error.{code}" for code in (400, 401, 403, 404, 409, 413, 422, 429, 503)}
