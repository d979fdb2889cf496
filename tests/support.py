"""Helpers for tests: settings on a real broker, running an app in-process, polling with a deadline."""

from __future__ import annotations

import asyncio
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable

import httpx
from fastapi import FastAPI

from shared.auth import mint_token
from shared.config import Settings

TEST_SECRET = "test-signing-key-not-for-production-0123456789"


def make_settings(bootstrap: str, prefix: str, data_dir: Path, **overrides: Any) -> Settings:
    """Settings for one test: its own topic prefix and data folder, a fixed signing key."""
    values: dict[str, Any] = {
        "kafka_bootstrap_servers": bootstrap,
        "topic_prefix": prefix,
        "topic_partitions": 2,
        "data_dir": data_dir,
        "jwt_secret": TEST_SECRET,
        "parked_retry_seconds": 0.2,
    }
    values.update(overrides)
    return Settings(**values)


def bearer(settings: Settings, role: str, operator_id: str | None = None, sub: str | None = None) -> dict[str, str]:
    """An Authorization header for a role."""
    return {"Authorization": f"Bearer {mint_token(settings, role=role, operator_id=operator_id, sub=sub)}"}


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app's lifespan (its runtime against the real broker) and give an HTTP client to it."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def eventually(
    check: Callable[[], Awaitable[Any] | Any], *, timeout: float = 20.0, interval: float = 0.05, what: str = ""
) -> Any:
    """Poll until ``check`` returns something truthy (awaiting it if needed); fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if asyncio.iscoroutine(last) or isinstance(last, Awaitable):
            last = await last
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"not reached within {timeout}s: {what or check} (last: {last!r})")


@asynccontextmanager
async def listening(app: Any, *, lifespan: str = "auto") -> AsyncIterator[str]:
    """Serve the app with uvicorn on a free local port in this loop (for commands that call it over HTTP).

    Pass ``lifespan="off"`` when the app's runtime is already started (inside ``serving``): starting it
    twice would open a second writer that fences the first.
    """
    import socket

    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan=lifespan)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
