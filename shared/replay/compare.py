"""Differences between two JSON-able snapshots (a live read model and a replayed one); no I/O."""

from __future__ import annotations

from typing import Any

MAX_SHOWN = 200


def differences(live: Any, replayed: Any, path: str = "") -> list[str]:
    """Every place where the snapshots differ, as ``path: live=… replay=…`` lines (keys sorted)."""
    if isinstance(live, dict) and isinstance(replayed, dict):
        found: list[str] = []
        for key in sorted(set(live) | set(replayed), key=str):
            where = f"{path}.{key}" if path else str(key)
            if key not in live:
                found.append(f"{where}: missing in the live read model (replay has {_short(replayed[key])})")
            elif key not in replayed:
                found.append(f"{where}: only in the live read model ({_short(live[key])}), not in the stream")
            else:
                found.extend(differences(live[key], replayed[key], where))
        return found
    if isinstance(live, list) and isinstance(replayed, list) and len(live) == len(replayed):
        return [d for i, (a, b) in enumerate(zip(live, replayed)) for d in differences(a, b, f"{path}[{i}]")]
    if live != replayed:
        return [f"{path}: live={_short(live)} replay={_short(replayed)}"]
    return []


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."
