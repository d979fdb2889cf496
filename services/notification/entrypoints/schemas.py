"""What the notification routes accept: strict input, turned into commands."""

from __future__ import annotations

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, EmailStr, Field

from shared.events.contact import ContactKind
from shared.events.values import Actor
from shared.principal import Principal
from services.notification.domain.contacts import SetContact


class ContactPut(BaseModel):
    """A contact as the operator (or the utility's SOC) registers it."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    organisation: str = Field(min_length=1, max_length=200)
    email: EmailStr
    phone: str = Field(min_length=1, max_length=50)
    webhook_url: AnyHttpUrl | None = None

    def command(self, operator_id: str, kind: ContactKind, *, by: Principal) -> SetContact:
        """The SetContact command this body asks for, naming the person who changes it."""
        return SetContact(
            operator_id=operator_id, kind=kind, name=self.name, organisation=self.organisation, email=str(self.email),
            phone=self.phone, webhook_url=str(self.webhook_url) if self.webhook_url else None,
            changed_by=Actor(kind="person", id=by.sub, role=by.role),
        )  # fmt: skip
