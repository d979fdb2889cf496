"""A development SMTP catcher: a real SMTP server on loopback that keeps every message as a file."""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope as SmtpEnvelope
from aiosmtpd.smtp import Session


class _Keep:
    """aiosmtpd handler: write each accepted message to ``<folder>/<time>-<n>.eml``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.count = len(list(folder.glob("*.eml")))

    async def handle_DATA(self, server: object, session: Session, envelope: SmtpEnvelope) -> str:
        self.count += 1
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        (self.folder / f"{stamp}-{self.count:05d}.eml").write_bytes(envelope.original_content or b"")
        return "250 Message accepted for delivery"


def start_catcher(folder: Path, *, host: str = "127.0.0.1", port: int = 8025) -> Controller:
    """Start the catcher in a background thread; ``.stop()`` ends it."""
    controller = Controller(_Keep(folder), hostname=host, port=port)
    controller.start()
    return controller


@dataclass(frozen=True)
class CaughtMail:
    """One caught message, decoded."""

    path: Path
    sender: str
    to: str
    subject: str
    date: str
    body: str


def read_mailbox(folder: Path) -> list[CaughtMail]:
    """Every caught message, oldest first."""
    mails = []
    for path in sorted(folder.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        part = message.get_body(preferencelist=("plain", "html"))
        mails.append(
            CaughtMail(
                path=path,
                sender=str(message.get("From", "")),
                to=", ".join(address.addr_spec for address in getattr(message.get("To"), "addresses", ())),
                subject=str(message.get("Subject", "")),
                date=str(message.get("Date", "")) or _received_at(path),
                body=part.get_content() if part is not None else "",
            )
        )
    return mails


def _received_at(path: Path) -> str:
    """When the catcher received a message without a Date header (the file name says, in UTC)."""
    stamp = path.name.split("-", 1)[0]
    try:
        return datetime.strptime(stamp, "%Y%m%dT%H%M%S%fZ").replace(tzinfo=timezone.utc).isoformat(timespec="seconds")
    except ValueError:
        return ""
