"""``smguard secrets``: the connection service's key ring — rotate, re-seal, see what each key seals, retire.

``rotate-key`` writes a new key into the ring folder (owner-only; it seals at once in every running
instance) and asks each instance to re-seal its connections' current secrets with it: one event per
connection, the service answering all the while. ``retire-key ID`` removes a key once no connection
needs it, and says which still do otherwise. With several instances, pass ``--instances N`` (or each
``--url``): every instance answers for the partitions it owns.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

from shared import devsecrets
from shared.cli.client import base_url, client, run_command
from shared.config import Settings
from shared.events.connection import LEGACY_KEY_ID
from shared.keyring import CONNECTION_KEYS, KeyFolder


def configure(parser: argparse.ArgumentParser) -> None:
    """Sub-commands and their arguments."""
    parser.add_argument("--instances", type=int, default=1, help="instances of the connection service to ask (default 1)")
    parser.add_argument("--url", action="append", help="base URL of a connection instance (repeatable; default: from settings)")
    parser.add_argument("--keyring", type=Path, help="the key folder (default: SMGUARD_CONNECTION_SECRETS_KEYRING or <data>/connection-keys)")
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    sub.add_parser("keys", help="each key of the ring and how many connections it still seals")
    sub.add_parser("rotate-key", help="add a new sealing key and re-seal every connection's secrets with it")
    sub.add_parser("reseal", help="re-seal with the newest key what an earlier run left (no new key)")
    retire = sub.add_parser("retire-key", help="remove a key that no connection needs any more")
    retire.add_argument("key_id")


def main(args: argparse.Namespace, settings: Settings | None = None) -> int:
    """0 when done (nothing left on older keys); 1 when something still needs an older key; 2 on an error."""
    return run_command("secrets", _run, args, settings)


def folder_of(settings: Settings, args: argparse.Namespace) -> KeyFolder:
    """The ring folder the services read."""
    configured = args.keyring or os.environ.get("SMGUARD_CONNECTION_SECRETS_KEYRING")
    return KeyFolder(Path(configured) if configured else settings.data_dir / CONNECTION_KEYS)


def urls_of(settings: Settings, args: argparse.Namespace) -> list[str]:
    """The connection instances to ask."""
    return args.url or [base_url(settings, "connection", k) for k in range(max(1, args.instances))]


async def _ask(settings: Settings, args: argparse.Namespace, method: str, path: str) -> list[dict[str, Any]]:
    answers = []
    for url in urls_of(settings, args):
        async with client(settings, "connection", url=url, role="utility_soc") as http:
            response = await http.request(method, path)
        if response.status_code != 200:
            raise RuntimeError(f"{url}{path} answered HTTP {response.status_code}: {response.text[:200]}")
        answers.append(response.json())
    return answers


def _total(answers: list[dict[str, Any]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for answer in answers:
        for key_id, count in answer["keys"].items():
            total[key_id] = total.get(key_id, 0) + count
    return total


def _show(total: dict[str, int], sealing: str) -> None:
    for key_id, count in total.items():
        mark = "  (seals)" if key_id == sealing else ""
        print(f"  {key_id:<28} {count:>8} connection(s){mark}")


async def _run(settings: Settings, args: argparse.Namespace) -> int:
    try:
        if args.action == "retire-key":
            return await _retire(settings, args)
        if args.action == "rotate-key":
            print(f"new sealing key {folder_of(settings, args).add(Fernet.generate_key)}")
        path, method = ("/secrets/keys", "GET") if args.action == "keys" else ("/secrets/reseal", "POST")
        answers = await _ask(settings, args, method, path)
    except RuntimeError as exc:
        print(f"smguard secrets: {exc}", file=sys.stderr)
        return 2
    sealing, total = answers[0]["sealing_key"], _total(answers)
    failed = [f for a in answers for f in a.get("failed", [])]
    if method == "POST":
        print(f"re-sealed {sum(a['resealed'] for a in answers)} connection(s) with {sealing}")
    for item in failed:
        print(f"  not re-sealed: {item['id']}: {item['reason']}", file=sys.stderr)
    _show(total, sealing)
    left = {k: n for k, n in total.items() if k != sealing and n}
    if left and method == "POST":
        print("some connections still need an older key: run `smguard secrets reseal` again", file=sys.stderr)
    return 1 if (left and method == "POST") or failed else 0


async def _retire(settings: Settings, args: argparse.Namespace) -> int:
    key_id = args.key_id
    answers = await _ask(settings, args, "GET", "/secrets/keys")
    total = _total(answers)
    if any(a["sealing_key"] == key_id for a in answers):
        print(f"smguard secrets: {key_id} is the sealing key; rotate first", file=sys.stderr)
        return 1
    if total.get(key_id):
        print(f"smguard secrets: {key_id} still seals {total[key_id]} connection(s); run `smguard secrets reseal`", file=sys.stderr)
        _show(total, answers[0]["sealing_key"])
        return 1
    if key_id == LEGACY_KEY_ID:
        return _retire_legacy(settings)
    if not folder_of(settings, args).remove(key_id):
        print(f"smguard secrets: no key {key_id} in the ring folder", file=sys.stderr)
        return 2
    print(f"retired {key_id}: nothing sealed with it can be opened any more")
    return 0


def _retire_legacy(settings: Settings) -> int:
    if os.environ.get("SMGUARD_CONNECTION_SECRETS_KEY"):
        print("the legacy key comes from SMGUARD_CONNECTION_SECRETS_KEY: unset it for every instance, then restart them")
        return 0
    legacy = settings.data_dir / devsecrets.CONNECTION_SECRETS_KEY
    if legacy.exists():
        legacy.unlink()
    print(f"retired {LEGACY_KEY_ID}: the services drop it at their next start")
    return 0
