"""``smguard replay [--service S] [--until TIME]``: rebuild read models from the topics and compare.

For each service, its read models (declared by its bootstrap as ``READ_MODELS``) are rebuilt from
the event topics into scratch projections — nothing is produced or sent — and compared with the
live ones that the running service shows at ``GET /ops/read-model``, up to the same stream
positions. Differences are printed and the exit status is 1. With ``--until``, the rebuilt state
as of that moment is printed instead.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import Any

import httpx
from rich.console import Console
from rich.progress import Progress

from shared.cli.client import client, run_command
from shared.config import Settings
from shared.replay import ReadModels, rebuild
from shared.replay.compare import MAX_SHOWN, differences
from shared.services import SERVICES, bootstrap


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
    return run_command("replay", run, args, settings)


async def run(settings: Settings, args: argparse.Namespace) -> int:
    """Replay each chosen service; the worst status wins."""
    console = Console(stderr=True)
    status = 0
    for service in [args.service] if args.service else SERVICES:
        models: ReadModels = bootstrap(service).READ_MODELS
        status = max(status, await _replay_one(settings, args, models, console))
    return status


async def _replay_one(settings: Settings, args: argparse.Namespace, models: ReadModels, console: Console) -> int:
    service = models.service
    if args.until is not None:
        snapshot = await _rebuild(settings, models, console, until=args.until)
        print(json.dumps({service: snapshot}, ensure_ascii=False, indent=2, sort_keys=True))
        return 0
    try:
        async with client(settings, service, url=args.url if args.service else None) as http:
            live = (await http.get("/ops/read-model")).raise_for_status().json()
    except httpx.HTTPError as exc:
        console.print(f"[red]{service}: cannot fetch the live read model: {exc}[/]")
        return 2
    replayed = await _rebuild(settings, models, console, positions=live.get("positions"))
    found = differences(live["read_models"], replayed)
    if not found:
        print(f"{service}: no difference")
        return 0
    print(f"{service}: {len(found)} difference(s) between the live read model and the stream:")
    for line in found[:MAX_SHOWN]:
        print(f"  {line}")
    return 1


async def _rebuild(settings: Settings, models: ReadModels, console: Console, **options: Any) -> dict[str, Any]:
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task(f"replaying {models.service}", total=None)
        return await rebuild(
            settings, models, progress=lambda done, total: bar.update(task, completed=done, total=total), **options
        )
