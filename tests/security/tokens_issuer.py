"""A stand-in identity provider for the token tests: a real HTTP server on loopback (stdlib, in a thread)
publishing OpenID discovery and a JWKS of keys generated here, and signing tokens with them."""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

AUDIENCE = "smguard-api"


class Issuer:
    """Serves ``/.well-known/openid-configuration`` and ``/jwks.json``; counts what is fetched.

    ``down = True`` makes both answer 503 (the provider is unreachable for the services).
    """

    def __init__(self) -> None:
        self.keys: dict[str, Any] = {}  # kid -> private key
        self.published: list[str] = []  # kids in the JWKS
        self.fetches: dict[str, int] = {"discovery": 0, "jwks": 0}
        self.down = False
        self.lock = threading.Lock()
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server name
                with issuer.lock:
                    if self.path == "/.well-known/openid-configuration":
                        issuer.fetches["discovery"] += 1
                        body = {"issuer": issuer.url, "jwks_uri": issuer.url + "/jwks.json"}
                    elif self.path == "/jwks.json":
                        issuer.fetches["jwks"] += 1
                        body = issuer.jwks()
                    else:
                        body = None
                    status = 503 if issuer.down else 200 if body is not None else 404
                data = json.dumps(body if status == 200 else {"error": "unavailable"}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.rsa_kid = self.add_key("RS256")
        self.ec_kid = self.add_key("ES256")

    def add_key(self, alg: str, *, publish: bool = True) -> str:
        """A new signing key (RS256 or ES256); published in the JWKS unless ``publish`` is False."""
        kid = f"{alg.lower()}-{uuid.uuid4().hex[:8]}"
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048) if alg == "RS256" else ec.generate_private_key(ec.SECP256R1())
        with self.lock:
            self.keys[kid] = key
            if publish:
                self.published.append(kid)
        return kid

    def publish(self, kid: str) -> None:
        """Add a key to the JWKS (a rotation)."""
        with self.lock:
            self.published.append(kid)

    def jwks(self) -> dict[str, Any]:
        keys = []
        for kid in self.published:
            key = self.keys[kid]
            algorithm = jwt.algorithms.RSAAlgorithm if isinstance(key, rsa.RSAPrivateKey) else jwt.algorithms.ECAlgorithm
            jwk = algorithm.to_jwk(key.public_key(), as_dict=True)
            keys.append(jwk | {"kid": kid, "use": "sig", "alg": "RS256" if algorithm is jwt.algorithms.RSAAlgorithm else "ES256"})
        return {"keys": keys}

    def claims(self, **overrides: Any) -> dict[str, Any]:
        """Claims of a valid utility_soc token for ``AUDIENCE``; an override of None drops the claim."""
        now = int(time.time())
        values = {"iss": self.url, "aud": AUDIENCE, "sub": "analyst-1", "role": "utility_soc", "iat": now, "exp": now + 600}
        values.update(overrides)
        return {k: v for k, v in values.items() if v is not None}

    def token(self, *, kid: str | None = None, alg: str | None = None, headers: dict[str, Any] | None = None, **claims: Any) -> str:
        """A token signed with one of this provider's keys (the RSA key by default)."""
        kid = kid or self.rsa_kid
        key = self.keys[kid]
        alg = alg or ("RS256" if isinstance(key, rsa.RSAPrivateKey) else "ES256")
        return jwt.encode(self.claims(**claims), key, algorithm=alg, headers={"kid": kid} | (headers or {}))

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
