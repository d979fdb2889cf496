"""``smguard demo``: plays the agreement's story against the running system, step by step.

Start the system first (``make run``), then in another terminal ``.venv/bin/smguard demo``.
"""

from __future__ import annotations

import argparse
import sys

import httpx

from shared.cli.client import base_url
from shared.config import get_settings
from shared.demo.client import DemoError, Smguard
from shared.demo.story import Story
from shared.services import SERVICES


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments."""
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for each outcome")
    parser.add_argument("--pause", action="store_true", help="wait for Enter between steps")


def main(args: argparse.Namespace) -> int:
    """Play every step; stop with a clear message at the first that does not come out right."""
    settings = get_settings()
    urls = {s: base_url(settings, s) for s in SERVICES}
    down = [s for s, url in urls.items() if not _ready(url)]
    if down:
        print(f"smguard demo: not running: {', '.join(down)} — start the system with 'make run' first", file=sys.stderr)
        return 2
    counter = iter(range(1, 100))

    def narrate(japanese: str, english: str, lines: list[str]) -> None:
        print(f"\n【{next(counter)}】{japanese} / {english}")
        for line in lines:
            print(f"    {line}")
        if args.pause:
            input("    (Enter)")

    api = Smguard(settings, urls, timeout=args.timeout)
    try:
        facts = Story(api, narrate).play()
    except DemoError as exc:
        print(f"\nsmguard demo: {exc}", file=sys.stderr)
        return 1
    finally:
        api.close()
    print(f"\nThe story is complete. Incident {facts.incident}; try: smguard dossier {facts.incident}")
    return 0


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=3).status_code == 200
    except httpx.HTTPError:
        return False
