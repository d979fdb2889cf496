"""Who receives a notification, and who is next when it is not acknowledged. Pure, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from shared.events.notification import Channel, Recipient

Contacts = Mapping[str, Mapping[str, Any]]
"""An operator's contacts as kind → fields (the aggregate's state, or the contacts read model)."""

NO_CONTACT = "(連絡先未登録 / no contact registered)"


@dataclass(frozen=True, slots=True)
class Desk:
    """The utility desk (ネットワークサービスセンター託送運営グループ) and its fallback, from settings."""

    primary: Recipient
    fallback: Recipient


def channels_of(recipient: Recipient) -> list[Channel]:
    """E-mail when there is an address, and the webhook when there is one (e-mail first)."""
    channels: list[Channel] = []
    if recipient.email:
        channels.append("email")
    if recipient.webhook_url:
        channels.append("webhook")
    return channels or ["email"]


def _contact(contacts: Contacts | None, kind: str, operator_id: str) -> Recipient | None:
    fields = contacts.get(kind) if contacts else None
    if not fields:
        return None
    return Recipient(
        kind=kind,  # type: ignore[arg-type]
        operator_id=operator_id,
        name=f"{fields['name']} ({fields['organisation']})",
        email=fields["email"],
        webhook_url=fields.get("webhook_url"),
    )


def primary(target: str, *, operator_id: str | None, contacts: Contacts | None, desk: Desk) -> Recipient:
    """utility → operator: the security-incident contact, else the applicant; operator → utility: the desk.

    An operator with no contact at all still gets a notification without an address: it fails at once
    and escalates, so the utility learns that the operator cannot be reached.
    """
    if target == "utility_desk":
        return desk.primary
    assert operator_id is not None
    found = _contact(contacts, "security_incident", operator_id) or _contact(contacts, "applicant", operator_id)
    return found or Recipient(kind="security_incident", operator_id=operator_id, name=NO_CONTACT)


def fallback(recipient: Recipient, *, contacts: Contacts | None, desk: Desk) -> Recipient:
    """Whom to escalate to: the operator's other contact; the fallback desk for the desk or when there is none."""
    if recipient.kind == "utility_desk" or recipient.operator_id is None:
        return desk.fallback
    other = "applicant" if recipient.kind == "security_incident" else "security_incident"
    found = _contact(contacts, other, recipient.operator_id)
    if found is not None and found.email != recipient.email:
        return found
    return desk.fallback


def webhook_identity(recipient: Recipient) -> str:
    """What a recipient's webhook secret is derived from: who it is and the URL (a new URL, a new secret)."""
    if recipient.kind == "utility_desk":
        return f"desk|{recipient.webhook_url}"
    return f"contact|{recipient.operator_id}|{recipient.kind}|{recipient.webhook_url}"
