"""A development stand-in for the utility's HES / network access control, for ``smguard run`` only.

It receives the connection service's enforcement webhooks on loopback, checks them as any
receiver should (signature over ``<timestamp>.<body>``, a recent timestamp, the key id), records each request in ``<data>/hes/requests.jsonl`` and acknowledges it — so a local run shows
blocks being enforced. Production points ``SMGUARD_ENFORCEMENT_URL`` at the real HES.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from shared.webhooks import KEY_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, key_id, verify


class _Handler(BaseHTTPRequestHandler):
    server: "DevHes"

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        signed = verify(
            self.server.secret, body,
            timestamp=self.headers.get(TIMESTAMP_HEADER), signature=self.headers.get(SIGNATURE_HEADER),
        )  # fmt: skip
        if not signed or self.headers.get(KEY_ID_HEADER) != key_id(self.server.secret):
            self._answer(401, {"error": "bad signature"})
            return
        record = {"received_at": datetime.now(timezone.utc).isoformat(), **json.loads(body)}
        with self.server.lock, open(self.server.log_file, "a", encoding="utf-8") as out:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._answer(200, {"status": "enforced", "request_id": record.get("request_id")})

    def _answer(self, status: int, payload: dict[str, object]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the requests file is the record."""


class DevHes(ThreadingHTTPServer):
    """The stand-in server; ``start()`` serves in a daemon thread, ``shutdown()`` stops it."""

    def __init__(self, *, port: int, secret: str, folder: Path) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        folder.mkdir(parents=True, exist_ok=True)
        self.secret = secret.encode()
        self.log_file = folder / "requests.jsonl"
        self.lock = threading.Lock()

    def start(self) -> None:
        """Serve in the background."""
        threading.Thread(target=self.serve_forever, name="dev-hes", daemon=True).start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.shutdown()
        self.server_close()
