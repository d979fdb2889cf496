"""``smguard replay [--service S] [--until TIME]``: rebuild read models from the topics and compare.

For each service that offers ``services/<name>/replay.py`` (the replay protocol, see the audit
README), the read models are rebuilt from the event topics into scratch stores — nothing is
produced or sent — and compared with the live ones that the running service shows at
``GET /ops/read-model``, up to the same stream positions. Differences are printed and the exit
status is 1. With ``--until``, the rebuilt state as of that moment is printed instead.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import json
import sys
from datetime import datetime
from typing import Any

import httpx
from rich.console import Console
from rich.progress import Progress

from services.audit.domain.compare import MAX_SHOWN, differences
from services.audit.entrypoints.cli_client import client
from shared.config import Settings, get_settings

SERVICES = ("incident", "connection", "notification", "audit")


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments."""
    parser.add_argument("--service", choices=SERVICES, help="only this service (default: every service)")
    parser.add_argument("--until", type=datetime.fromisoformat, help="show the state as it was at this time (ISO 8601 with zone)")
    parser.add_argument("--url", help="base URL of the service (with --service; default: from settings)")


def main(args: argparse.Namespace, settings: Settings | None = None) -> int:
    """0 when every replayed read model equals the live one, 1 when one differs, 2 when one cannot be compared."""
    if args.until is not None and args.until.tzinfo is None:
        print("smguard replay: --until needs a zone, e.g. 2025-04-01T09:00:00+09:00", file=sys.stderr)
        return 2
    return asyncio.run(run(settings or get_settings(), args))


async def run(settings: Settings, args: argparse.Namespace) -> int:
    """Replay each chosen service; the worst status wins."""
    console = Console(stderr=True)
    status = 0
    for service in [args.service] if args.service else SERVICES:
        module = _protocol(service)
        if module is None:
            console.print(f"[yellow]{service}: no replay protocol (services/{service}/replay.py); skipped[/]")
            status = max(status, 2 if args.service else 0)
            continue
        status = max(status, await _replay_one(settings, args, service, module, console))
    return status


def _protocol(service: str) -> Any:
    try:
        return importlib.import_module(f"services.{service}.replay")
    except ModuleNotFoundError:
        return None


async def _replay_one(settings: Settings, args: argparse.Namespace, service: str, module: Any, console: Console) -> int:
    if args.until is not None:
        snapshot = await _rebuild(module, settings, console, service, until=args.until)
        print(json.dumps({service: snapshot}, ensure_ascii=False, indent=2, sort_keys=True))
        return 0
    try:
        async with client(settings, args.url if args.service else None, service=service) as http:
            live = (await http.get("/ops/read-model")).raise_for_status().json()
    except httpx.HTTPError as exc:
        console.print(f"[red]{service}: cannot fetch the live read model: {exc}[/]")
        return 2
    replayed = await _rebuild(module, settings, console, service, positions=live.get("positions"))
    found = differences(live["read_models"], replayed)
    if not found:
        print(f"{service}: no difference")
        return 0
    print(f"{service}: {len(found)} difference(s) between the live read model and the stream:")
    for line in found[:MAX_SHOWN]:
        print(f"  {line}")
    return 1


async def _rebuild(module: Any, settings: Settings, console: Console, service: str, **options: Any) -> dict[str, Any]:
    accepted = inspect.signature(module.read_models).parameters
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task(f"replaying {service}", total=None)
        if "progress" in accepted:
            options["progress"] = lambda done, total: bar.update(task, completed=done, total=total)
        options = {k: v for k, v in options.items() if k in accepted and v is not None}
        result = module.read_models(settings, **options)
        return await result if inspect.isawaitable(result) else result
