"""``smguard dossier INCIDENT_ID``: an incident's whole story as a Markdown document (or JSON)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from shared.cli.client import client, run_command
from shared.config import Settings


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments."""
    parser.add_argument("incident_id")
    parser.add_argument("--format", choices=("md", "json"), default="md")
    parser.add_argument("--output", type=Path, help="write to this file instead of standard output")
    parser.add_argument("--url", help="base URL of the audit service (default: from settings)")


def main(args: argparse.Namespace, settings: Settings | None = None) -> int:
    """Print (or write) the dossier; 1 when there is no such incident."""
    return run_command("dossier", run, args, settings)


async def run(settings: Settings, args: argparse.Namespace) -> int:
    """Fetch the dossier from the audit service."""
    async with client(settings, "audit", url=args.url) as http:
        answer = await http.get(f"/audit/dossiers/{args.incident_id}", params={"format": args.format})
    if answer.status_code == 404:
        print(f"smguard dossier: no incident {args.incident_id}", file=sys.stderr)
        return 1
    answer.raise_for_status()
    text = answer.text if args.format == "md" else json.dumps(answer.json(), ensure_ascii=False, indent=2)
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    else:
        print(text)
    return 0
