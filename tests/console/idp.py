"""A stand-in identity provider for the console's sign-in tests: a real HTTP server on loopback serving
OpenID discovery, an authorization endpoint that signs the user in at once as a configured user, a token
endpoint that checks PKCE (S256) and the redirect, and the JWKS of ``tests.security.tokens_issuer.Issuer``."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

from tests.security.tokens_issuer import AUDIENCE, Issuer

CLIENT_ID = "smguard-console"


class AuthorizationServer:
    """``user`` is the claims the next sign-in gets (role, operator_id, sub); ``requests`` what was asked."""

    def __init__(self) -> None:
        self.keys = Issuer()
        self.user: dict[str, Any] = {"sub": "analyst-1", "role": "utility_soc"}
        self.codes: dict[str, dict[str, str]] = {}
        self.requests: list[dict[str, str]] = []
        self.token_requests: list[dict[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _send(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                if body is not None:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802 - the http.server name
                url = urlparse(self.path)
                if url.path == "/.well-known/openid-configuration":
                    base = server.url
                    self._send(200, {"issuer": base, "authorization_endpoint": base + "/authorize",
                                     "token_endpoint": base + "/token", "jwks_uri": base + "/jwks.json",
                                     "code_challenge_methods_supported": ["S256"]})  # fmt: skip
                elif url.path == "/jwks.json":
                    self._send(200, server.keys.jwks())
                elif url.path == "/authorize":
                    query = {k: v[0] for k, v in parse_qs(url.query).items()}
                    server.requests.append(query)
                    code = secrets.token_urlsafe(16)
                    server.codes[code] = query
                    target = query["redirect_uri"] + "?" + urlencode({"code": code, "state": query.get("state", "")})
                    self._send(302, headers={"Location": target})
                else:
                    self._send(404, {"error": "not_found"})

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", "0"))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                server.token_requests.append(form)
                asked = server.codes.pop(form.get("code", ""), None)
                if urlparse(self.path).path != "/token" or asked is None:
                    return self._send(400, {"error": "invalid_grant"})
                verifier = form.get("code_verifier", "")
                challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
                if asked.get("code_challenge_method") != "S256" or challenge != asked.get("code_challenge"):
                    return self._send(400, {"error": "invalid_grant", "error_description": "PKCE verification failed"})
                if form.get("redirect_uri") != asked.get("redirect_uri"):
                    return self._send(400, {"error": "invalid_grant", "error_description": "redirect_uri differs"})
                token = server.keys.token(iss=server.url, aud=AUDIENCE, **server.user)
                self._send(200, {"access_token": token, "token_type": "Bearer", "expires_in": 600})

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self.keys.stop()
