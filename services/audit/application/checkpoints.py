"""Signing tree heads, and checking the checkpoints the service holds."""

from __future__ import annotations

import base64
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit.adapters.keys import key_id, public_key_b64
from services.audit.domain.merkle import Head, MerkleLogs
from services.audit.verifier import VerificationError, signed_bytes, verify_checkpoint
from shared.envelope import utcnow


def sign_checkpoint(logs: MerkleLogs, key: Ed25519PrivateKey, *, seq: int) -> dict[str, Any]:
    """A signed tree head over every log as it is now."""
    heads = {log: head.as_dict() for log, head in logs.heads().items()}
    body: dict[str, Any] = {
        "log_id": key_id(key),
        "seq": seq,
        "size": logs.total_size(),
        "root": logs.root(),
        "heads": heads,
        "time": utcnow().isoformat(),
    }
    body["signature"] = base64.b64encode(key.sign(signed_bytes(body))).decode()
    return body


def same_heads(checkpoint: dict[str, Any] | None, logs: MerkleLogs) -> bool:
    """Whether a checkpoint already covers the logs as they are."""
    return checkpoint is not None and checkpoint["root"] == logs.root() and checkpoint["size"] == logs.total_size()


def trusted_heads(
    checkpoints: list[dict[str, Any]], key: Ed25519PrivateKey
) -> tuple[list[tuple[int, dict[str, Head]]], list[dict[str, Any]]]:
    """Split checkpoints into those the key signed (as heads) and problems naming the others."""
    good: list[tuple[int, dict[str, Head]]] = []
    problems: list[dict[str, Any]] = []
    public = public_key_b64(key)
    for checkpoint in checkpoints:
        try:
            verify_checkpoint(checkpoint, public)
        except (VerificationError, KeyError, TypeError) as exc:
            problems.append({"checkpoint": checkpoint.get("seq"), "reason": str(exc)})
            continue
        heads = {log: Head(int(h["size"]), str(h["root"])) for log, h in checkpoint["heads"].items()}
        good.append((int(checkpoint["seq"]), heads))
    return good, problems
