"""A contact's webhook may not reach into the utility's network: non-public destinations are a 422 that changes
nothing, unless the utility allows them; the rule reads every form an address can take."""

from __future__ import annotations

import ipaddress

import pytest

from shared.domain import Invalid
from shared.eventstore import Context
from shared.events.values import Actor
from shared.principal import Principal
from services.notification.adapters.memory import FixedDns
from services.notification.application import handlers
from services.notification.bootstrap import build_app
from services.notification.config import NotificationSettings
from services.notification.domain.contacts import SetContact
from services.notification.domain.destinations import DestinationPolicy, parse_networks
from tests.factories import bearer, serving, uid
from tests.services.notification.helpers import handler_service

STAFF = Principal(sub="op-user", role="operator", operator_id="op-1")
REFUSED = [
    "http://127.0.0.1/hook", "http://127.8.9.10:8080/hook", "http://[::1]/hook", "http://[::ffff:127.0.0.1]/hook",
    "http://[::ffff:10.0.0.1]/hook", "http://10.1.2.3/hook", "http://172.16.0.5/hook", "http://192.168.1.1/hook",
    "http://100.64.0.1/hook", "http://169.254.169.254/latest/meta-data", "http://[fe80::1]/hook", "http://[fc00::1]/hook",
    "http://0.0.0.0/hook", "http://[::]/hook", "http://224.0.0.1/hook", "http://[ff02::1]/hook", "http://240.0.0.1/hook",
    "http://255.255.255.255/hook", "http://192.0.2.1/hook", "http://[2001:db8::1]/hook", "http://[64:ff9b::a00:1]/hook",
    "http://[2002:7f00:1::1]/hook", "http://localhost:8080/hook", "http://internal.utility.example/hook",
    "https://mixed.op.example/hook",
]  # fmt: skip
DNS = {"internal.utility.example": ["10.20.30.40"], "mixed.op.example": ["93.184.216.34", "192.168.0.9"],
       "localhost": ["127.0.0.1", "::1"], "hooks.op.example": ["93.184.216.34"]}  # fmt: skip


def contact(url: str) -> SetContact:
    return SetContact(operator_id="op-1", kind="security_incident", name="担当", organisation="中部テック", email="si@op.example",
                      phone="052-000-0000", webhook_url=url, changed_by=Actor(kind="person", id="op-user", role="operator"))  # fmt: skip


@pytest.mark.parametrize("url", REFUSED)
async def test_a_non_public_destination_is_refused_and_nothing_is_recorded(url):
    service = handler_service(dns=FixedDns(DNS))
    with pytest.raises(Invalid) as refused:
        await handlers.set_contact(service, contact(url), principal=STAFF, context=Context(actor="op-user", operator_id="op-1"))
    assert "webhook_url is refused" in refused.value.message or "webhook_url must" in refused.value.message
    assert not any(part in refused.value.message for part in ("10.20.30.40", "192.168.0.9", "internal.utility"))
    assert service.store.published == []  # type: ignore[attr-defined]


@pytest.mark.parametrize("url", ["https://hooks.op.example/hook", "https://[2606:4700::1111]/h", "https://not-yet.op.example/h"])
async def test_a_public_or_not_yet_resolving_destination_is_accepted(url):
    service = handler_service(dns=FixedDns(DNS))
    done = await handlers.set_contact(service, contact(url), principal=STAFF, context=Context(actor="op-user", operator_id="op-1"))
    assert done.registered and done.contact["webhook_url"] == url


async def test_the_utility_can_allow_a_network_or_every_private_address():
    allowed = handler_service(dns=FixedDns(DNS), webhook_allowed_cidrs="127.0.0.0/8,::1/128")
    await handlers.set_contact(allowed, contact("http://localhost:8080/hook"), principal=STAFF, context=Context(operator_id="op-1"))
    with pytest.raises(Invalid):
        await handlers.set_contact(allowed, contact("http://10.1.2.3/hook"), principal=STAFF, context=Context(operator_id="op-1"))
    open_ = handler_service(dns=FixedDns(DNS), webhook_allow_private=True)
    await handlers.set_contact(open_, contact("http://10.1.2.3/hook"), principal=STAFF, context=Context(operator_id="op-1"))


def test_the_default_policy_permits_only_public_unicast_addresses():
    policy = DestinationPolicy()
    assert policy.permits(ipaddress.ip_address("93.184.216.34")) and policy.permits(ipaddress.ip_address("2606:4700::1111"))
    assert policy.permits(ipaddress.ip_address("::ffff:93.184.216.34"))
    loopback = DestinationPolicy(allowed=parse_networks("127.0.0.0/8"))
    assert loopback.permits(ipaddress.ip_address("::ffff:127.0.0.1")) and not loopback.permits(ipaddress.ip_address("::1"))


def test_a_bad_allow_list_stops_the_service_at_start():
    with pytest.raises(ValueError, match="not a CIDR"):
        NotificationSettings(webhook_allowed_cidrs="127.0.0.0/8,loopback")


async def test_over_http_a_loopback_webhook_is_a_422_that_changes_nothing(settings, tmp_path):
    config = NotificationSettings(webhook_secret="master-key-of-the-ssrf-test-0123", dispatch_interval_seconds=0.1)
    operator = uid("op")
    staff = bearer(settings, "operator", operator)
    body = {"name": "担当", "organisation": "中部テック", "email": "si@op.example", "phone": "052-000-0000"}
    async with serving(build_app(settings, config=config)) as client:
        refused = await client.put(f"/operators/{operator}/contacts/security_incident",
                                   json={**body, "webhook_url": "http://127.0.0.1:9/hook"}, headers=staff)  # fmt: skip
        contacts = await client.get(f"/operators/{operator}/contacts", headers=staff)
        secret = await client.get(f"/operators/{operator}/contacts/security_incident/webhook-secret", headers=staff)
    assert refused.status_code == 422 and "127.0.0.1" not in refused.text
    assert contacts.json()["contacts"] == [] and secret.status_code == 404
