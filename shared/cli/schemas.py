"""``smguard schemas``: regenerate docs/events and the ECS table of docs/soc-integration.md from the event catalog
(``--check`` only compares)."""

from __future__ import annotations

import argparse

from shared.config import REPO_ROOT
from shared.schemas import OUTPUT_DIR, render, stale_files
from shared.soc import doc


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments."""
    parser.add_argument("--check", action="store_true", help="exit 1 if the checked-in files are stale")


def main(args: argparse.Namespace) -> int:
    """Write (or check) the schemas."""
    if args.check:
        stale = stale_files() + ([doc.PATH] if doc.is_stale() else [])
        for path in stale:
            print(f"stale: {path.relative_to(REPO_ROOT)}")
        return 1 if stale else 0
    (OUTPUT_DIR / "schemas").mkdir(parents=True, exist_ok=True)
    for old in (OUTPUT_DIR / "schemas").glob("*.json"):
        old.unlink()
    files = render()
    for path, text in files.items():
        path.write_text(text)
    doc.write()
    print(f"wrote {len(files)} files under {OUTPUT_DIR.relative_to(REPO_ROOT)}/ and the ECS table of {doc.PATH.relative_to(REPO_ROOT)}")
    return 0
