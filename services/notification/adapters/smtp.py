"""E-mail over SMTP (aiosmtplib): UTF-8 subject and body, Japanese intact; a failure tells a category, the log the detail."""

from __future__ import annotations

from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import make_msgid

import logging

import aiosmtplib

from shared import tracing
from shared.webhooks import failure_category
from services.notification.application.ports import DeliveryError, OutboundMessage, Sender, Undeliverable

log = logging.getLogger(__name__)


class SmtpSender(Sender):
    """Sends notifications as e-mail through one SMTP server."""

    channel = "email"

    def __init__(self, *, host: str, port: int, sender: str, timeout: float = 10.0) -> None:
        self.host, self.port, self.sender, self.timeout = host, port, sender, timeout

    def build(self, message: OutboundMessage) -> EmailMessage:
        """The e-mail for a message (RFC 2047 subject, UTF-8 body)."""
        if not message.recipient.email:
            raise Undeliverable("the recipient has no e-mail address")
        mail = EmailMessage()
        mail["From"] = Address(display_name="smguard", addr_spec=self.sender)
        mail["To"] = Address(display_name=message.recipient.name, addr_spec=message.recipient.email)
        mail["Subject"] = message.subject
        mail["Message-ID"] = make_msgid(idstring=message.notification_id, domain="smguard")
        mail["X-Smguard-Notification-Id"] = message.notification_id
        mail.set_content(message.body, charset="utf-8")
        return mail

    async def send(self, message: OutboundMessage) -> None:
        """Send one e-mail; any SMTP or network failure is a DeliveryError."""
        mail = self.build(message)
        span = tracing.start(
            "SMTP send", kind=tracing.SpanKind.CLIENT,
            attributes={"server.address": self.host, "server.port": self.port, "smguard.notification_id": message.notification_id},
        ) if tracing.ENABLED else None  # fmt: skip
        try:
            await aiosmtplib.send(mail, hostname=self.host, port=self.port, timeout=self.timeout)
        except aiosmtplib.SMTPResponseException as exc:
            tracing.end(span, exc)
            log.warning("e-mail refused", extra={"notification_id": message.notification_id, "error": repr(exc)})
            raise DeliveryError(f"SMTP {exc.code}") from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            tracing.end(span, exc)
            log.warning("e-mail not sent", extra={"notification_id": message.notification_id, "error": repr(exc)})
            raise DeliveryError(f"SMTP {failure_category(exc)}") from None
        tracing.end(span)
