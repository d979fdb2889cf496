"""An operator's contacts (part 1 of the agreement): the applicant and the security-incident contact."""

from __future__ import annotations

from dataclasses import dataclass

from shared.domain import Aggregate
from shared.events import DomainEvent
from shared.events.contact import ContactChanged, ContactEvent, ContactKind, ContactRegistered
from shared.events.values import Actor

CONTACT_FIELDS = ("name", "organisation", "email", "phone", "webhook_url")


@dataclass(frozen=True, slots=True)
class SetContact:
    """Register or change one contact of an operator."""

    operator_id: str
    kind: ContactKind
    name: str
    organisation: str
    email: str
    phone: str
    webhook_url: str | None
    changed_by: Actor

    def fields(self) -> dict[str, str | None]:
        """The contact's fields as they should now be."""
        return {name: getattr(self, name) for name in CONTACT_FIELDS}


class OperatorContacts(Aggregate):
    """Both contacts of one operator (aggregate id = operator id): kind → the contact's fields."""

    contacts: dict[str, dict[str, str | None]]

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.contacts: dict[str, dict[str, str | None]] = {}

    def set_contact(self, command: SetContact) -> None:
        """First time: ContactRegistered; a difference: ContactChanged; the same again: nothing."""
        wanted = command.fields()
        current = self.contacts.get(command.kind)
        base = dict(operator_id=command.operator_id, kind=command.kind, changed_by=command.changed_by, **wanted)
        if current is None:
            self._record(ContactRegistered(**base))
            return
        changed = [name for name in CONTACT_FIELDS if current.get(name) != wanted[name]]
        if changed:
            self._record(ContactChanged(**base, changed_fields=changed))

    def _apply(self, event: DomainEvent) -> None:
        if isinstance(event, ContactEvent):
            self.contacts[event.kind] = {name: getattr(event, name) for name in CONTACT_FIELDS}

    def get(self, kind: str) -> dict[str, str | None] | None:
        """One contact's fields, or None when it was never registered."""
        return self.contacts.get(kind)
