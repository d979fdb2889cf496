"""The audit service's use cases: checkpoints, verification, proofs, entries and dossiers."""

from __future__ import annotations

import asyncio
import base64
import logging
from dataclasses import dataclass
from typing import Any, AsyncIterator, Callable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit.adapters import store
from services.audit.application import queries
from services.audit.application.ports import Checkpoint, CheckpointStore
from services.audit.domain.checkpoints import public_key_b64, same_heads, sign_checkpoint, trusted_heads
from services.audit.domain.entries import EntryFilter
from services.audit.domain.integrity import recompute
from services.audit.projections.log import AuditLog
from shared.clock import Clock, utcnow
from shared.domain import Invalid, NotFound, not_found
from shared.metrics import AUDIT_VERIFICATION_OK, AUDIT_VERIFICATION_TIME
from shared.principal import Principal

log = logging.getLogger(__name__)


@dataclass
class AuditService:
    """What the routes and the checkpoint timer call: the log, the checkpoints kept, the signing key, a clock."""

    log: AuditLog
    checkpoints: CheckpointStore
    key: Ed25519PrivateKey
    clock: Clock = utcnow

    @property
    def public_key(self) -> str:
        """The key auditors verify checkpoints with (base64 of the raw 32 bytes)."""
        return public_key_b64(self.key)

    def checkpoint(self) -> Checkpoint:
        """Sign the current heads (or return the latest checkpoint when nothing was appended since)."""
        latest = self.checkpoints.latest()
        if latest is not None and same_heads(latest, self.log.logs):
            return latest
        signed = sign_checkpoint(self.log.logs, self.key, seq=self.checkpoints.next_seq(), at=self.clock())
        self.checkpoints.add(signed)
        log.info("signed a checkpoint", extra={"seq": signed["seq"], "size": signed["size"]})
        return signed

    def checkpoint_at(self, seq: int | None) -> Checkpoint:
        """A checkpoint by number, or the latest (signing one if there is none yet)."""
        found = self.checkpoints.get(seq) if seq is not None else self.checkpoints.latest() or self.checkpoint()
        if found is None:
            raise NotFound(f"checkpoint {seq} not found")
        return found

    def checkpoint_page(self, *, after: int, limit: int) -> dict[str, Any]:
        """Signed tree heads in order, with the public key."""
        return {"items": self.checkpoints.all(after=after, limit=limit), "public_key": self.public_key}

    async def verify(self, tally: Callable[[int, int], None] | None = None) -> dict[str, Any]:
        """Recompute every log from the stored entries, against every signed checkpoint; ``tally(done, total)``
        is called from the worker thread as entries are recomputed."""
        checkpoints = self.checkpoints.all(limit=1_000_000)  # read here: a store's connection belongs to the loop
        report = await asyncio.to_thread(self._verify, checkpoints, tally)
        AUDIT_VERIFICATION_OK.set(1 if report["ok"] else 0)
        AUDIT_VERIFICATION_TIME.set(self.clock().timestamp())
        if not report["ok"]:
            log.error("the audit log failed verification", extra={"first_bad": report["first_bad"]})
        return report

    async def verify_with_progress(self) -> AsyncIterator[dict[str, Any]]:
        """``{"done", "total"}`` as the recomputation goes, then ``{"report": …}`` (what ``verify`` answers)."""
        loop, queue = asyncio.get_running_loop(), asyncio.Queue[dict[str, Any]]()

        def tally(done: int, total: int) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, {"done": done, "total": total})

        task = asyncio.ensure_future(self.verify(tally))
        task.add_done_callback(lambda _: queue.put_nowait({}))
        while not task.done() or not queue.empty():
            line = await queue.get()
            if line:
                yield line
        yield {"report": task.result()}

    def _verify(self, checkpoints: list[Checkpoint], tally: Callable[[int, int], None] | None = None) -> dict[str, Any]:
        heads, checkpoint_problems = trusted_heads(checkpoints, self.key)
        with store.opened(self.log.path) as db:
            store.for_scanning(db)
            total = sum(size for size, _ in store.log_ends(db).values())
            report = recompute(store.stored_entries(db), heads, tally=(lambda done: tally(done, total)) if tally else None)
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

    def inclusion(self, ident: str, seq: int | None) -> dict[str, Any]:
        """An inclusion proof of one stored entry (``topic:partition:offset``, ``log#index`` or event id)."""
        found = store.find_entry(self.log.db, ident)
        if found is None:
            raise not_found("entry", ident)
        entry, value = found
        checkpoint = self.checkpoint_at(seq)
        head = checkpoint["heads"].get(entry["log"])
        if head is None or entry["index"] >= head["size"]:
            raise Invalid(f"checkpoint {checkpoint['seq']} does not cover this entry yet; ask for a later one")
        proof = self.log.logs.prove_inclusion(entry["log"], entry["index"], head["size"])
        return {"entry": entry, "value_b64": base64.b64encode(value).decode(), "log": entry["log"],
                "index": entry["index"], "proof": proof.serialize(), "checkpoint": checkpoint,
                "public_key": self.public_key}  # fmt: skip

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

    def entries(self, f: EntryFilter, principal: Principal, *, limit: int, start: int) -> dict[str, Any]:
        """One page of the entries the caller may see."""
        return queries.list_entries(self.log, f, principal, limit=limit, start=start)

    def dossier(self, incident_id: str, principal: Principal) -> dict[str, Any]:
        """The incident's whole story as the caller may see it."""
        return queries.dossier(self.log, incident_id, principal, now=self.clock())
