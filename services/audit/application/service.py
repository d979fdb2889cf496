"""The audit service's use cases: checkpoints, verification, proofs and the live read model."""

from __future__ import annotations

import asyncio
import base64
import logging
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit.adapters import store
from services.audit.adapters.checkpoints import CheckpointStore
from services.audit.adapters.keys import public_key_b64
from services.audit.application.checkpoints import same_heads, sign_checkpoint, trusted_heads
from services.audit.application.log import AuditLog
from services.audit.application.readmodel import read_model_of
from services.audit.domain.integrity import recompute
from shared.domain import Invalid, NotFound

log = logging.getLogger(__name__)


class AuditService:
    """What the routes and the checkpoint timer call."""

    def __init__(self, audit_log: AuditLog, checkpoints: CheckpointStore, key: Ed25519PrivateKey) -> None:
        self.log, self.checkpoints, self.key = audit_log, checkpoints, key
        self.public_key = public_key_b64(key)

    def checkpoint(self) -> dict[str, Any]:
        """Sign the current heads (or return the latest checkpoint when nothing was appended since)."""
        latest = self.checkpoints.latest()
        if same_heads(latest, self.log.logs):
            return latest  # type: ignore[return-value]
        signed = sign_checkpoint(self.log.logs, self.key, seq=self.checkpoints.next_seq())
        self.checkpoints.add(signed)
        log.info("signed a checkpoint", extra={"seq": signed["seq"], "size": signed["size"]})
        return signed

    async def verify(self) -> dict[str, Any]:
        """Recompute every log from the stored entries, against every signed checkpoint."""
        checkpoints = self.checkpoints.all(limit=1_000_000)  # read here: the connection belongs to the loop
        return await asyncio.to_thread(self._verify, checkpoints)

    def _verify(self, checkpoints: list[dict[str, Any]]) -> dict[str, Any]:
        heads, checkpoint_problems = trusted_heads(checkpoints, self.key)
        db = store.connect(self.log.path)
        try:
            report = recompute(store.stored_entries(db), heads)
        finally:
            db.close()
        problems = [p.as_dict() for p in report.problems]
        return {
            "ok": not problems and not checkpoint_problems,
            "size": report.logs.total_size(),
            "root": report.logs.root(),
            "first_bad": problems[0] if problems else None,
            "problems": problems,
            "checkpoint_problems": checkpoint_problems,
            "checkpoints_checked": len(heads),
        }

    def checkpoint_at(self, seq: int | None) -> dict[str, Any]:
        """A checkpoint by number, or the latest (signing one if there is none yet)."""
        found = self.checkpoints.get(seq) if seq is not None else self.checkpoints.latest() or self.checkpoint()
        if found is None:
            raise NotFound(f"checkpoint {seq} not found")
        return found

    def inclusion(self, row: Any, seq: int | None) -> dict[str, Any]:
        """An inclusion proof of one stored entry against a checkpoint."""
        checkpoint = self.checkpoint_at(seq)
        head = checkpoint["heads"].get(row["log"])
        if head is None or row["idx"] >= head["size"]:
            raise Invalid(f"checkpoint {checkpoint['seq']} does not cover this entry yet; ask for a later one")
        proof = self.log.logs.prove_inclusion(row["log"], row["idx"], head["size"])
        return {"entry": store.public(row), "value_b64": _b64(bytes(row["value"])), "log": row["log"],
                "index": row["idx"], "proof": proof.serialize(), "checkpoint": checkpoint,
                "public_key": self.public_key}

    def consistency(self, first: int, second: int) -> dict[str, Any]:
        """Per-log consistency proofs from one checkpoint to a later one."""
        a, b = self.checkpoint_at(first), self.checkpoint_at(second)
        if a["seq"] > b["seq"]:
            raise Invalid("first must not be later than second")
        proofs = {}
        for name, head in a["heads"].items():
            later = b["heads"].get(name, {"size": 0})
            if 0 < head["size"] < later["size"]:
                proofs[name] = self.log.logs.prove_consistency(name, head["size"], later["size"]).serialize()
        return {"first": a, "second": b, "proofs": proofs, "public_key": self.public_key}

    async def read_model(self) -> dict[str, Any]:
        """The live read model, recomputed from the store's rows (what replay compares)."""
        positions = dict(self.log.positions)
        model = await asyncio.to_thread(read_model_of, self.log.path, positions)
        return {"positions": positions, "read_models": model}


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode()
