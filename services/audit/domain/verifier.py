"""The auditor's verifier: checks signed checkpoints and Merkle proofs with nothing but the checkpoint.

No I/O and no dependency on the rest of smguard: an auditor may copy this module out and run it
against the JSON the audit service gives. Hashing is RFC 6962 (SHA-256, leaf ``0x00 || data``,
node ``0x01 || left || right``) as implemented by ``pymerkle``.

The log is a set of per-partition Merkle trees ("logs", named ``"<topic>/<partition>"``); a
checkpoint lists each log's head (size, root) and commits to all of them with a combined root: the
RFC 6962 tree hash over the heads in sorted order, each head encoded as ``"<log> <size> <root hex>"``.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any, Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pymerkle import ConsistencyProof, InclusionProof, InmemoryTree, InvalidProof

SIGNED_FIELDS = ("log_id", "seq", "size", "root", "heads", "time")


class VerificationError(Exception):
    """A checkpoint or proof does not hold; the message says which part failed."""


def leaf_hash(data: bytes) -> bytes:
    """RFC 6962 leaf hash: SHA-256 of ``0x00 || data``."""
    return hashlib.sha256(b"\x00" + data).digest()


def head_line(log: str, size: int, root: str) -> bytes:
    """The leaf data by which the combined root commits to one log's head."""
    return f"{log} {size} {root}".encode()


def combined_root(heads: Mapping[str, Mapping[str, Any]]) -> str:
    """The root over every non-empty log's head, in sorted log order (hex)."""
    tree = InmemoryTree()
    for log in sorted(heads):
        head = heads[log]
        if int(head["size"]) > 0:
            tree.append_entry(head_line(log, int(head["size"]), str(head["root"])))
    return tree.get_root().hex()


def signed_bytes(checkpoint: Mapping[str, Any]) -> bytes:
    """The canonical bytes a checkpoint's signature covers (sorted-key compact JSON, UTF-8)."""
    body = {name: checkpoint[name] for name in SIGNED_FIELDS}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def public_key_from_b64(public_key: str) -> Ed25519PublicKey:
    """An Ed25519 public key from its raw 32 bytes in base64."""
    try:
        return Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key))
    except ValueError as exc:
        raise VerificationError(f"not an Ed25519 public key: {exc}") from None


def verify_checkpoint(checkpoint: Mapping[str, Any], public_key: str) -> None:
    """Check a checkpoint's signature and that its root and size follow from its heads."""
    try:
        signature = base64.b64decode(str(checkpoint["signature"]))
        public_key_from_b64(public_key).verify(signature, signed_bytes(checkpoint))
    except (KeyError, ValueError, InvalidSignature):
        raise VerificationError("checkpoint signature does not verify with the trusted key") from None
    heads = checkpoint["heads"]
    if combined_root(heads) != checkpoint["root"]:
        raise VerificationError("checkpoint root does not follow from its heads")
    if sum(int(h["size"]) for h in heads.values()) != int(checkpoint["size"]):
        raise VerificationError("checkpoint size is not the sum of its heads")


def verify_inclusion(*, data: bytes, log: str, proof: Mapping[str, Any], checkpoint: Mapping[str, Any], public_key: str) -> None:
    """Check that ``data`` is leaf ``proof.index`` of ``log`` as the signed checkpoint saw it."""
    verify_checkpoint(checkpoint, public_key)
    head = checkpoint["heads"].get(log)
    if head is None:
        raise VerificationError(f"the checkpoint has no log {log}")
    try:
        parsed = InclusionProof.deserialize(dict(proof))
        parsed.verify(leaf_hash(data), bytes.fromhex(head["root"]), size=int(head["size"]), algorithm="sha256")
    except (InvalidProof, ValueError) as exc:
        raise VerificationError(f"inclusion proof does not hold: {exc}") from None


def verify_consistency(
    *, first: Mapping[str, Any], second: Mapping[str, Any], proofs: Mapping[str, Any], public_key: str
) -> None:
    """Check that the second checkpoint's logs extend the first's, every log append-only."""
    verify_checkpoint(first, public_key)
    verify_checkpoint(second, public_key)
    for log, head in first["heads"].items():
        prior_size = int(head["size"])
        later = second["heads"].get(log)
        if prior_size == 0:
            continue
        if later is None or int(later["size"]) < prior_size:
            raise VerificationError(f"log {log} shrank between the checkpoints")
        if int(later["size"]) == prior_size:
            if later["root"] != head["root"]:
                raise VerificationError(f"log {log} changed without growing")
            continue
        _verify_log_consistency(log, head, later, proofs.get(log))


def _verify_log_consistency(log: str, prior: Mapping[str, Any], later: Mapping[str, Any], proof: Any) -> None:
    if proof is None:
        raise VerificationError(f"no consistency proof for log {log}")
    try:
        parsed = ConsistencyProof.deserialize(dict(proof))
        parsed.verify(
            bytes.fromhex(prior["root"]),
            bytes.fromhex(later["root"]),
            prior_size=int(prior["size"]),
            later_size=int(later["size"]),
            algorithm="sha256",
        )
    except (InvalidProof, ValueError, TypeError) as exc:
        raise VerificationError(f"consistency proof for log {log} does not hold: {exc}") from None
