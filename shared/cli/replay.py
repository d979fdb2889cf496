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

from shared.cli.client import client, run_command
from shared.cli.progress import Meter, wanted
from shared.config import Settings
from shared.replay import ReadModels, rebuild_many
from shared.replay.compare import MAX_SHOWN, differences
from shared.services import SERVICES, bootstrap


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments."""
    parser.add_argument("--service", choices=SERVICES, help="only this service (default: every service)")
    parser.add_argument("--until", type=datetime.fromisoformat, help="show the state as it was at this time (ISO 8601 with zone)")
    parser.add_argument("--url", help="base URL of the service (with --service; default: from settings)")
    parser.add_argument("--progress", action="store_true", help="show progress on stderr even when it is not a terminal")


def main(args: argparse.Namespace, settings: Settings | None = None) -> int:
    """0 when every replayed read model equals the live one, 1 when one differs, 2 when one cannot be compared."""
    if args.until is not None and args.until.tzinfo is None:
        print("smguard replay: --until needs a zone, e.g. 2025-04-01T09:00:00+09:00", file=sys.stderr)
        return 2
    return run_command("replay", run, args, settings)


async def run(settings: Settings, args: argparse.Namespace) -> int:
    """Fetch each chosen service's live read model, rebuild them all from one read of the topics, compare; the worst status wins."""
    console = Console(stderr=True)
    chosen: list[ReadModels] = [bootstrap(service).READ_MODELS for service in ([args.service] if args.service else SERVICES)]
    if args.until is not None:
        snapshots = await _rebuild(settings, [(models, None) for models in chosen], args, until=args.until)
        for models, snapshot in zip(chosen, snapshots):
            print(json.dumps({models.service: snapshot}, ensure_ascii=False, indent=2, sort_keys=True))
        return 0
    status, lives = 0, {}
    for models in chosen:
        try:
            async with client(settings, models.service, url=args.url if args.service else None) as http:
                lives[models.service] = (await http.get("/ops/read-model")).raise_for_status().json()
        except httpx.HTTPError as exc:
            console.print(f"[red]{models.service}: cannot fetch the live read model: {exc}[/]")
            status = 2
    compared = [models for models in chosen if models.service in lives]
    replayed = await _rebuild(settings, [(m, lives[m.service].get("positions")) for m in compared], args)
    for models, snapshot in zip(compared, replayed):
        status = max(status, _report(models.service, lives[models.service]["read_models"], snapshot))
    return status


def _report(service: str, live: dict[str, Any], replayed: dict[str, Any]) -> int:
    found = differences(live, replayed)
    if not found:
        print(f"{service}: no difference")
        return 0
    print(f"{service}: {len(found)} difference(s) between the live read model and the stream:")
    for line in found[:MAX_SHOWN]:
        print(f"  {line}")
    return 1


async def _rebuild(
    settings: Settings, chosen: list[tuple[ReadModels, Any]], args: argparse.Namespace, **options: Any
) -> list[dict[str, Any]]:
    if not chosen:
        return []
    with Meter("replay", "events", show=wanted(getattr(args, "progress", False))) as meter:
        return await rebuild_many(settings, chosen, progress=meter.update, **options)
