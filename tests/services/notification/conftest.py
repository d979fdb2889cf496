"""Fixtures of the notification tests: a real SMTP server, a real webhook receiver, a clock the test moves."""

from __future__ import annotations

import pytest

from services.notification.config import NotificationSettings
from tests.factories import FakeClock, LoopbackServer
from tests.services.notification.helpers import LOOPBACK, WEBHOOK_SECRET, SmtpServer


@pytest.fixture
def smtp():
    """A running SMTP server; the test may stop and start it."""
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def clock() -> FakeClock:
    """A clock at a fixed instant."""
    return FakeClock()


@pytest.fixture
def config(smtp: SmtpServer) -> NotificationSettings:
    """Notification settings pointing at the test SMTP server, with quick ticks; coalesced notices not held (the
    clock stands still unless a test moves it)."""
    return NotificationSettings(
        smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_from="smguard@test.example", smtp_timeout_seconds=3,
        webhook_secret=WEBHOOK_SECRET, webhook_allowed_cidrs=LOOPBACK, public_base_url="https://smguard.test", desk_email="desk@utility.example",
        desk_fallback_email="fallback@utility.example", ack_timeout_seconds=1800, delivery_max_attempts=5,
        retry_base_seconds=30, dispatch_interval_seconds=0.05, notice_hold_seconds=0,
    )


@pytest.fixture
def webhook():
    """A running webhook receiver (answers 204 until the test sets ``respond``)."""
    receiver = LoopbackServer(lambda body, headers: 204, path="/hooks/smguard")
    yield receiver
    receiver.stop()
