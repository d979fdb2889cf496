"""The web console's composition root: sessions, the services' APIs, the live feed, the pages.

A fifth process beside the four services with the same skeleton (a runtime, health, readiness, metrics),
but it owns no aggregate and no read model: every page reads and writes through the services' HTTP
APIs with the signed-in user's token, and the live feed reads the event topics as a read-only consumer.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles

from shared.config import Settings
from shared.runtime import Runtime
from shared.service import create_app
from shared.services import SERVICES
from services.console.api import ApiError, Services
from services.console.config import ConsoleSettings
from services.console.feed import LiveFeed
from services.console.pages import audit, connections, dashboard, incidents, operators, portal, signin, vulnerabilities
from services.console.sessions import Sessions
from services.console.web import BadForm, NotAllowed, SignInRequired, error_response

DESCRIPTION = "The web console of smguard: every role's part of the agreement in a browser, in Japanese and English."
PAGES = (signin, dashboard, incidents, connections, portal, operators, vulnerabilities, audit)
STATIC = Path(__file__).parent / "static"
SECURITY_HEADERS = {
    # htmx and its SSE extension are files of the console; no inline script or style anywhere
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


class _Http:
    """The pooled HTTP client to the services, closed with the console."""

    def __init__(self, services: Services) -> None:
        self.services = services

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        await self.services.aclose()


def build_app(settings: Settings, *, options: ConsoleSettings | None = None, services: Services | None = None) -> FastAPI:
    """The console as a FastAPI app whose lifespan runs its live feed."""
    options = options or ConsoleSettings()
    runtime = Runtime(settings, service="console")
    feed = LiveFeed(settings, size=options.console_feed_size, max_followers=options.console_max_streams)
    runtime.watch(feed)  # ready once the feed has read the topics' recent events
    urls = options.service_urls(settings.host, {s: settings.port_of(s, 0) for s in SERVICES})
    services = services or Services(settings, timeout=options.console_api_timeout_seconds, urls=urls)
    runtime.add(_Http(services))
    upload = max(options.max_bulk_body_bytes, settings.max_body_bytes) + 64 * 1024  # the file and its multipart framing
    app = create_app(runtime, None, title="smguard console", description=DESCRIPTION, routers=[page.router for page in PAGES],
                     bodies={"/portal/bulk": upload})  # fmt: skip
    app.state.options, app.state.feed, app.state.services = options, feed, services
    app.state.sessions = Sessions(max_sessions=options.console_max_sessions, ttl_seconds=options.console_session_hours * 3600)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for kind in (SignInRequired, NotAllowed, BadForm, ApiError):
        app.add_exception_handler(kind, error_response)

    @app.middleware("http")
    async def security_headers(request: Request, call_next):  # noqa: ANN001, ANN202 - Starlette's middleware shape
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if request.url.path not in ("/healthz", "/readyz", "/metrics") and not request.url.path.startswith("/static"):
            response.headers.setdefault("Cache-Control", "no-store")  # pages carry a user's data
        return response

    return app
