"""``smguard verify [--checkpoint FILE]``: recompute the audit log, and check it against a kept checkpoint.

The service recomputes every log from its stored entries (``GET /audit/verify``). With a
checkpoint the auditor kept (the JSON of ``GET /audit/checkpoints/latest``), this command also
checks — itself, with ``services.audit.domain.verifier`` and the public key kept with it — that the
service's latest checkpoint is signed by that key and only appends to the kept one.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import httpx

from services.audit.domain.verifier import VerificationError, verify_checkpoint, verify_consistency
from shared.cli.client import client, run_command
from shared.config import Settings


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments."""
    parser.add_argument("--checkpoint", type=Path, help="a checkpoint kept outside the system (JSON)")
    parser.add_argument("--url", help="base URL of the audit service (default: from settings)")


def main(args: argparse.Namespace, settings: Settings | None = None) -> int:
    """0 when the log verifies (and extends the kept checkpoint), 1 when not, 2 when it cannot be asked."""
    return run_command("verify", run, args, settings)


async def run(settings: Settings, args: argparse.Namespace) -> int:
    """Ask the service, then check the kept checkpoint locally."""
    async with client(settings, "audit", url=args.url) as http:
        report = (await http.get("/audit/verify")).raise_for_status().json()
        print(json.dumps({k: report[k] for k in ("ok", "size", "root", "first_bad")}, ensure_ascii=False, indent=2))
        ok = bool(report["ok"])
        if args.checkpoint:
            ok = await _against_kept(http, json.loads(args.checkpoint.read_text())) and ok
    return 0 if ok else 1


async def _against_kept(http: httpx.AsyncClient, kept: dict[str, Any]) -> bool:
    checkpoint, public_key = kept["checkpoint"], kept["public_key"]
    try:
        verify_checkpoint(checkpoint, public_key)
        latest = (await http.get("/audit/checkpoints/latest")).raise_for_status().json()["checkpoint"]
        answer = await http.get("/audit/proofs/consistency", params={"first": checkpoint["seq"], "second": latest["seq"]})
        proofs = answer.raise_for_status().json()["proofs"] if answer.status_code == 200 else {}
        verify_consistency(first=checkpoint, second=latest, proofs=proofs, public_key=public_key)
    except (VerificationError, httpx.HTTPStatusError, KeyError) as exc:
        print(f"kept checkpoint #{checkpoint.get('seq')}: FAILED: {exc}")
        return False
    print(f"kept checkpoint #{checkpoint['seq']} (size {checkpoint['size']}): consistent with #{latest['seq']} (size {latest['size']})")
    return True
