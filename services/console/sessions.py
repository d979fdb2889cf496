"""Signed-in browsers: a session per sign-in, kept on the server, named by a random id in an HttpOnly cookie.

The cookie carries nothing but that id; the user's token stays on the server. Every form carries the
session's CSRF token (synchronizer pattern) and every state-changing request must return it; the
cookies are also ``SameSite=Lax`` (``Strict`` would drop the cookie on the identity provider's
redirect back). The store is bounded (``console_max_sessions``, least recently used out first) and
each session ends at the earlier of its own limit and its token's expiry.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from shared.principal import Principal

COOKIE = "smguard_console"
PENDING_COOKIE = "smguard_console_signin"
"""A browser that has not signed in yet: its sign-in form's CSRF token, or its PKCE verifier and state."""
LANGS = ("ja", "en")


@dataclass
class Session:
    """One signed-in browser."""

    id: str
    token: str
    principal: Principal
    expires: float
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    lang: str = "ja"


@dataclass
class Pending:
    """A browser on its way in: what it must send back (CSRF for the development form; OIDC state and verifier)."""

    id: str
    expires: float
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    state: str | None = None
    verifier: str | None = None
    nonce: str | None = None
    next: str = "/"
    lang: str = "ja"


class Sessions:
    """Sessions and pending sign-ins by id, bounded and expiring."""

    def __init__(self, *, max_sessions: int, ttl_seconds: float, clock=time.time) -> None:  # noqa: ANN001
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._pending: OrderedDict[str, Pending] = OrderedDict()
        self.max_sessions = max_sessions
        self.ttl = ttl_seconds
        self._clock = clock

    def open(self, token: str, principal: Principal, *, token_expires: float | None, lang: str = "ja") -> Session:
        """A new session for a token (the old one, if any, is closed by the caller: a new id on every sign-in)."""
        now = self._clock()
        expires = now + self.ttl if token_expires is None else min(now + self.ttl, token_expires)
        session = Session(id=secrets.token_urlsafe(32), token=token, principal=principal, expires=expires, lang=lang)
        self._sessions[session.id] = session
        while len(self._sessions) > self.max_sessions:
            self._sessions.popitem(last=False)
        return session

    def get(self, session_id: str | None) -> Session | None:
        """The live session of a cookie's id; None when unknown or expired (then it is forgotten)."""
        if not session_id:
            return None
        session = self._sessions.get(session_id)
        if session is None:
            return None
        if session.expires <= self._clock():
            del self._sessions[session_id]
            return None
        self._sessions.move_to_end(session_id)
        return session

    def close(self, session_id: str | None) -> None:
        """Sign out: the id is no longer accepted."""
        if session_id:
            self._sessions.pop(session_id, None)

    def begin(self, *, lang: str = "ja", next_url: str = "/") -> Pending:
        """A pending sign-in (ten minutes to finish it), bounded like the sessions."""
        pending = Pending(id=secrets.token_urlsafe(32), expires=self._clock() + 600, next=next_url, lang=lang)
        self._pending[pending.id] = pending
        while len(self._pending) > self.max_sessions:
            self._pending.popitem(last=False)
        return pending

    def pending(self, pending_id: str | None) -> Pending | None:
        """The pending sign-in of a cookie's id, if not expired."""
        if not pending_id:
            return None
        pending = self._pending.get(pending_id)
        if pending is None or pending.expires <= self._clock():
            self._pending.pop(pending_id, None)
            return None
        return pending

    def finish(self, pending_id: str) -> None:
        """A pending sign-in is used once."""
        self._pending.pop(pending_id, None)

    def __len__(self) -> int:
        return len(self._sessions)


def same_token(expected: str, given: str | None) -> bool:
    """Whether a form's CSRF token is the session's (in constant time)."""
    return bool(given) and secrets.compare_digest(expected.encode(), given.encode())  # type: ignore[union-attr]


def safe_next(target: str | None) -> str:
    """Where to go after sign-in: a path of this console only (never another site)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
