"""Checkpoints: signing the tree heads of every log, and telling held checkpoints the key signed; no I/O."""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit.domain.merkle import Head, MerkleLogs
from services.audit.domain.verifier import VerificationError, signed_bytes, verify_checkpoint

Checkpoint = dict[str, Any]
SignedHeads = list[tuple[int, dict[str, Head]]]


def public_key_b64(key: Ed25519PrivateKey) -> str:
    """The public key as base64 of its raw 32 bytes (what auditors keep)."""
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def key_id(key: Ed25519PrivateKey) -> str:
    """A short fingerprint of the public key, naming the log it signs."""
    return hashlib.sha256(base64.b64decode(public_key_b64(key))).hexdigest()[:16]


def sign_checkpoint(logs: MerkleLogs, key: Ed25519PrivateKey, *, seq: int, at: datetime) -> Checkpoint:
    """A signed tree head over every log as it is now, stating the time ``at``."""
    body: Checkpoint = {
        "log_id": key_id(key),
        "seq": seq,
        "size": logs.total_size(),
        "root": logs.root(),
        "heads": {log: head.as_dict() for log, head in logs.heads().items()},
        "time": at.isoformat(),
    }
    body["signature"] = base64.b64encode(key.sign(signed_bytes(body))).decode()
    return body


def same_heads(checkpoint: Checkpoint | None, logs: MerkleLogs) -> bool:
    """Whether a checkpoint already covers the logs as they are."""
    return checkpoint is not None and checkpoint["root"] == logs.root() and checkpoint["size"] == logs.total_size()


def trusted_heads(checkpoints: list[Checkpoint], key: Ed25519PrivateKey) -> tuple[SignedHeads, list[dict[str, Any]]]:
    """Split checkpoints into those the key signed (as heads) and problems naming the others."""
    good: SignedHeads = []
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
