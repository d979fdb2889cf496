"""The enforcement peer (the utility's HES) as the benchmark's own HTTP server, in the benchmark's process.

It checks each request as the development stand-in does (signature, key id), notes when the first
request for each connection was received (``time.perf_counter``, the clock the anomalies were sent
by) and acknowledges it — the single form, or the bulk form with a result per request. A plain HTTP/1.1 server on asyncio streams, keep-alive, no framework: under
a burst the peer must not be what is measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field

from shared.webhooks import KEY_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, key_id, verify

MAX_BODY = 16 * 1024 * 1024  # a bulk request of thousands of requests fits


@dataclass
class _Waiter:
    pending: set[str]
    moved: float = field(default_factory=time.monotonic)


class Peer:
    """Receives enforcement requests on ``url``; ``arrived[connection_id]`` is the first block request's receipt time."""

    def __init__(self, secret: str) -> None:
        self.secret = secret.encode()
        self.key_id = key_id(self.secret)
        self.arrived: dict[str, float] = {}
        self.arrived_wall: dict[str, float] = {}
        """The same receipt on the wall clock (seconds), to set against the broker's record times."""
        self.requests = 0
        self.bulk = 0
        """How many of the requests were bulk ones (many enforcement requests in one POST)."""
        self.repeats = 0
        self.refused = 0
        self._waiters: list[_Waiter] = []
        self._server: asyncio.Server | None = None
        self.url = ""

    async def start(self) -> str:
        """Listen on a free loopback port; return the URL to enforce at."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, backlog=1024)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/enforce"
        return self.url

    async def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(asyncio.TimeoutError):  # a client may keep its connection open a while
                await asyncio.wait_for(self._server.wait_closed(), 5)

    async def wait(self, connections: list[str], *, stall: float) -> list[str]:
        """Until a block request for each connection has arrived, or none arrived for ``stall`` seconds;
        the connections still missing."""
        waiter = _Waiter({c for c in connections if c not in self.arrived})
        self._waiters.append(waiter)
        try:
            while waiter.pending and time.monotonic() - waiter.moved < stall:
                await asyncio.sleep(0.01)
        finally:
            self._waiters.remove(waiter)
        return sorted(waiter.pending)

    def outstanding(self, sent: dict[str, float], *, older_than: float) -> int:
        """How many of the connections sent (connection → send time) wait for their block longer than ``older_than`` s."""
        limit = time.perf_counter() - older_than
        return sum(1 for c, at in sent.items() if at < limit and c not in self.arrived)

    def _received(self, connection: str, at: float) -> None:
        if connection in self.arrived:
            self.repeats += 1
            return
        self.arrived[connection] = at
        self.arrived_wall[connection] = time.time()
        for waiter in self._waiters:
            if connection in waiter.pending:
                waiter.pending.discard(connection)
                waiter.moved = time.monotonic()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                headers = _headers(head)
                length = int(headers.get("content-length", "0"))
                if length > MAX_BODY:
                    writer.write(_answer(413, b'{"error": "too large"}', close=True))
                    break
                body = await reader.readexactly(length) if length else b""
                at = time.perf_counter()
                self.requests += 1
                signed = verify(self.secret, body, timestamp=headers.get(TIMESTAMP_HEADER.lower()),
                                signature=headers.get(SIGNATURE_HEADER.lower()))  # fmt: skip
                if not signed or headers.get(KEY_ID_HEADER.lower()) != self.key_id:
                    self.refused += 1
                    writer.write(_answer(401, b'{"error": "bad signature"}'))
                else:
                    document = json.loads(body)
                    requests = document["requests"] if "requests" in document else [document]
                    for request in requests:
                        if request.get("action") == "block":
                            self._received(request["connection_id"], at)
                    if "requests" in document:  # the bulk form: a result per request
                        self.bulk += 1
                        reply = json.dumps({"id": document.get("id"), "results": [
                            {"request_id": r.get("request_id"), "status": "enforced"} for r in requests]}).encode()  # fmt: skip
                    else:
                        reply = json.dumps({"status": "enforced", "request_id": document.get("request_id")}).encode()
                    writer.write(_answer(200, reply))
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    break
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()


def _headers(head: bytes) -> dict[str, str]:
    lines = head.decode("latin-1").split("\r\n")
    found = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            found[name.strip().lower()] = value.strip()
    return found


def _answer(status: int, body: bytes, *, close: bool = False) -> bytes:
    reason = {200: "OK", 401: "Unauthorized", 413: "Payload Too Large"}[status]
    extra = "Connection: close\r\n" if close else ""
    return (f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
            .encode() + body)  # fmt: skip
