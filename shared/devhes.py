"""A development stand-in for the utility's HES / network access control, for ``smguard run`` only.

It receives the connection service's enforcement webhooks on loopback, checks them as any
receiver should (signature over ``<timestamp>.<body>``, a recent timestamp, the key id), records each
request in ``<data>/hes/requests.jsonl`` (with its ``traceparent`` when it has one) and acknowledges it
(the single form, or the bulk form with a result per request: ``services/connection/adapters/webhook.py``)
— so a local run shows blocks being enforced. Production points ``SMGUARD_ENFORCEMENT_URL`` at the real HES.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from shared.webhooks import KEY_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, key_id, verify


MAX_BODY = 16 * 1024 * 1024  # a bulk request of thousands of requests fits


class _Handler(BaseHTTPRequestHandler):
    server: "DevHes"

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._answer(413, {"error": "too large"})
            return
        body = self.rfile.read(length)
        signed = verify(
            self.server.secret, body,
            timestamp=self.headers.get(TIMESTAMP_HEADER), signature=self.headers.get(SIGNATURE_HEADER),
        )  # fmt: skip
        if not signed or self.headers.get(KEY_ID_HEADER) != key_id(self.server.secret):
            self._answer(401, {"error": "bad signature"})
            return
        try:
            document = json.loads(body)
            requests = document["requests"] if "requests" in document else [document]
            ids = [str(request["request_id"]) for request in requests]
        except (ValueError, KeyError, TypeError):
            self._answer(400, {"error": "not an enforcement request"})
            return
        received = {"received_at": datetime.now(timezone.utc).isoformat()}
        if self.headers.get("traceparent"):  # the trace it is part of, when the sender traces
            received["traceparent"] = self.headers["traceparent"][:64]
        with self.server.lock, open(self.server.log_file, "a", encoding="utf-8") as out:
            for request in requests:
                out.write(json.dumps({**received, **request}, ensure_ascii=False) + "\n")
        if "requests" in document:  # the bulk form: a result per request
            self._answer(200, {"id": document.get("id"), "results": [{"request_id": i, "status": "enforced"} for i in ids]})
        else:
            self._answer(200, {"status": "enforced", "request_id": ids[0]})

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
