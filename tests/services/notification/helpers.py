"""What only the notification tests need: a real SMTP server, the desk, report and block builders, contact PUTs."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from typing import Any

from pathlib import Path

from aiosmtpd.controller import Controller

from shared import topics
from shared.envelope import Envelope
from shared.eventstore import Context, InboxRecord
from shared.eventstore.memory import InMemoryEventStore
from shared.events.connection import ConnectionBlocked
from shared.events.incident import CauseReport, ImpactLine, InitialReport, ReportFiled
from shared.events.notification import Recipient
from shared.events.values import Actor
from shared.principal import Principal
from shared.repository import Saved
from services.notification.adapters.destinations import ResolvingDestinations
from services.notification.adapters.memory import FixedDns, RecordingSender
from services.notification.application import handlers
from services.notification.application.service import NotificationService
from services.notification.bootstrap import build_service
from services.notification.config import NotificationSettings
from services.notification.domain.contacts import SetContact
from services.notification.domain.recipients import Desk
from services.notification.projections.knowledge import Knowledge
from services.notification.projections.views import NotificationViews
from tests.factories import FakeClock, StandInWriter, bearer, connection_blocked, envelope, eventually, free_port, uid

WEBHOOK_SECRET = "webhook-master-key-for-tests-0123456789"
LOOPBACK = "127.0.0.0/8,::1/128"
STAFF = Principal(sub="op-user", role="operator", operator_id="op-1")
DESK = Desk(
    primary=Recipient(kind="utility_desk", name="ネットワークサービスセンター託送運営グループ", email="desk@utility.example"),
    fallback=Recipient(kind="utility_desk", name="fallback", email="fallback@utility.example"),
)
CONTACT = {"organisation": "中部テック株式会社", "phone": "052-000-0000"}


class Mailbox:
    """aiosmtpd handler keeping every received message, parsed."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - the aiosmtpd name
        self.messages.append(email.message_from_bytes(envelope.original_content, policy=email.policy.default))
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        """Messages addressed to ``address``."""
        return [m for m in self.messages if address in [a.addr_spec for a in m["To"].addresses]]


class SmtpServer:
    """A real SMTP server on loopback that can be started and stopped on its port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.mailbox = Mailbox()
        self._controller: Controller | None = None

    def start(self) -> None:
        """Listen (again) on the port."""
        self._controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        """Stop listening."""
        if self._controller:
            self._controller.stop()
            self._controller = None


def handler_service(dns: FixedDns | None = None, **config: Any) -> NotificationService:
    """The service over an in-memory store, read models in memory, recording channels and a clock the test moves;
    a coalesced notice goes out at once unless ``notice_hold_seconds`` says otherwise."""
    values: dict[str, Any] = {
        "desk_email": "desk@utility.example", "desk_fallback_email": "fallback@utility.example",
        "public_base_url": "http://smguard.test", "delivery_max_attempts": 3, "retry_base_seconds": 10,
        "retry_max_seconds": 60, "ack_timeout_seconds": 1800, "notice_hold_seconds": 0,
    }  # fmt: skip
    senders = {"email": RecordingSender("email"), "webhook": RecordingSender("webhook")}
    settings = NotificationSettings(**(values | config))
    return build_service(
        InMemoryEventStore(), config=settings, senders=senders, views=NotificationViews(Path(":memory:")),
        knowledge=Knowledge(Path(":memory:")), clock=FakeClock(), master=WEBHOOK_SECRET.encode(),
        destinations=ResolvingDestinations(settings.destination_policy(), resolve=dns or FixedDns()),
    )  # fmt: skip


async def project(service: NotificationService) -> None:
    """Feed what the store published into the views, as their subscriber would (each event once)."""
    for published in list(service.store.published):  # type: ignore[attr-defined]  # the in-memory store's
        if not service.views.already_applied(published.id):
            await service.views.apply(published, resume_at=0)


def inbox_record(service: NotificationService) -> InboxRecord:
    """The next record of the in-memory inbox."""
    return InboxRecord("smguard.notification.commands", 0, len(service.store.consumed_records))  # type: ignore[attr-defined]


async def notify(service: NotificationService, event: Envelope) -> list[Saved]:
    """What the router and the inbox do with a domain event: learn from it, route it, queue each route."""
    if not service.knowledge.already_applied(event.id):
        await service.knowledge.apply(event, resume_at=0)
    await project(service)
    return await handlers.queue(service, handlers.route(service, event), inbox=inbox_record(service))


def blocked(operator_id: str, *, reason: str = "unauthorized_access", incident_id: str | None = None) -> ConnectionBlocked:
    """A connection of the operator blocked for an incident, with a note in Japanese."""
    return connection_blocked(uid("conn"), operator_id, incident_id or uid("inc"), reason=reason, note="不正アクセスを検知")


def report(incident_id: str, *, direction: str = "operator_to_utility", part: str = "initial") -> ReportFiled:
    """A report filed on an incident, with every field in Japanese."""
    initial = InitialReport(
        event="無線端末の紛失", location="名古屋市東区の変電所",
        impacts=[ImpactLine(target="特例計量器 SM-001", impact="通信停止")], response_plan="認証情報を無効化する",
    )  # fmt: skip
    cause = CauseReport(
        cause="保守員の置き忘れ", countermeasure="端末の遠隔ロック", countermeasure_plan="2026年12月までに全端末へ適用",
        recurrence_prevention="持ち出し管理簿の運用",
    )  # fmt: skip
    return ReportFiled(
        incident_id=incident_id, part=part, revision=1, filed_by="operator" if direction == "operator_to_utility" else "utility",
        direction=direction, initial=initial if part == "initial" else None, cause=cause if part == "cause" else None,
    )  # fmt: skip


async def block(settings, operator_id: str, **kwargs: Any) -> ConnectionBlocked:
    """Put a ConnectionBlocked on the connection topic, as the connection service would."""
    event = blocked(operator_id, **kwargs)
    async with StandInWriter(settings, [topics.CONNECTION_EVENTS]) as writer:
        await writer.append(event.connection_id, [event])
    return event


async def file_report(settings, incident_id: str, operator_id: str) -> ReportFiled:
    """Put an operator's initial report on the incident topic, as the incident service would."""
    event = report(incident_id)
    async with StandInWriter(settings, [topics.INCIDENT_EVENTS]) as writer:
        await writer.append(incident_id, [event], operator_id=operator_id)
    return event


async def put_contact(client, settings, operator_id: str, kind: str, email: str, **extra: Any):
    """The operator PUTs one of its contacts (200 or 201), then waits until the contacts read model shows it:
    a notification queued after this call is addressed with it."""
    body = {"name": f"{kind} 担当 山田", "email": email, **CONTACT, **extra}
    response = await client.put(f"/operators/{operator_id}/contacts/{kind}", json=body,
                                headers=bearer(settings, "operator", operator_id))  # fmt: skip
    assert response.status_code in (200, 201), response.text

    async def shown() -> bool:
        read = await client.get(f"/operators/{operator_id}/contacts", headers=bearer(settings, "operator", operator_id))
        return max((c["version"] for c in read.json()["contacts"]), default=0) >= response.json()["version"]

    await eventually(shown, what=f"the {kind} contact in the read model")
    return response


async def notifications(client, settings, **params: Any) -> list[dict]:
    """The notifications the utility's SOC sees, filtered by ``params``."""
    response = await client.get("/notifications", params=params, headers=bearer(settings, "utility_soc"))
    return response.json()["items"]


def command(kind: str, email: str = "si@op.example", operator_id: str = "op-1") -> SetContact:
    """op-1's staff sets one of its contacts."""
    return SetContact(operator_id, kind, "担当者", "中部テック", email, "052-000-0000", None,
                      Actor(kind="person", id="op-user", role="operator"))  # fmt: skip


async def register(service: NotificationService, kind: str, email: str = "si@op.example", **options: Any):
    """Set a contact through the handler, then project it (the read model the inbox addresses notifications with)."""
    done = await handlers.set_contact(service, command(kind, email), principal=STAFF, context=Context(), **options)
    await project(service)
    return done


def of_type(service: NotificationService, cls) -> list:
    """The events of a type the in-memory store published, in order."""
    return [e.event for e in service.store.published if isinstance(e.event, cls)]  # type: ignore[attr-defined]


async def queued_block(service: NotificationService, operator_id: str = "op-1") -> str:
    """A block told to the operator; answers its notification id."""
    (saved,) = await notify(service, envelope(blocked(operator_id), "c-1"))
    return saved.aggregate_id
