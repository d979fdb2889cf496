"""``smguard verify [--checkpoint FILE]``: recompute the audit log, and check it against a kept checkpoint.

The service recomputes every log from its stored entries (``GET /audit/verify``, streamed with its
progress: a bar on stderr when it is a terminal, plain lines with ``--progress``, then one line with
the entries recomputed and the rate). With a checkpoint the auditor kept (the JSON of ``GET /audit/checkpoints/latest``), this command also
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
from shared.cli.progress import Meter, wanted
from shared.config import Settings


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments."""
    parser.add_argument("--checkpoint", type=Path, help="a checkpoint kept outside the system (JSON)")
    parser.add_argument("--url", help="base URL of the audit service (default: from settings)")
    parser.add_argument("--progress", action="store_true", help="show progress on stderr even when it is not a terminal")


def main(args: argparse.Namespace, settings: Settings | None = None) -> int:
    """0 when the log verifies (and extends the kept checkpoint), 1 when not, 2 when it cannot be asked."""
    return run_command("verify", run, args, settings)


async def run(settings: Settings, args: argparse.Namespace) -> int:
    """Ask the service, then check the kept checkpoint locally."""
    async with client(settings, "audit", url=args.url) as http:
        report = await _recomputed(http, show=wanted(getattr(args, "progress", False)))
        print(json.dumps({k: report[k] for k in ("ok", "size", "root", "first_bad")}, ensure_ascii=False, indent=2))
        ok = bool(report["ok"])
        if args.checkpoint:
            ok = await _against_kept(http, json.loads(args.checkpoint.read_text())) and ok
    return 0 if ok else 1


async def _recomputed(http: httpx.AsyncClient, *, show: bool) -> dict[str, Any]:
    """The service's report, its progress shown as it streams."""
    with Meter("verify", "entries", show=show) as meter:
        async with http.stream("GET", "/audit/verify", params={"progress": "true"}) as answer:
            answer.raise_for_status()
            async for line in answer.aiter_lines():
                if not line:
                    continue
                message = json.loads(line)
                if "report" in message:
                    meter.update(int(message["report"]["size"]))
                    return dict(message["report"])
                meter.update(int(message["done"]), int(message["total"]))
    raise httpx.RemoteProtocolError("the verification ended without its report")


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
