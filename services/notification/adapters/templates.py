"""Bilingual message texts from Jinja2 templates; times shown in Japan time with the zone written."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

from jinja2 import ChainableUndefined, Environment, FileSystemLoader
from pydantic import BaseModel

from shared.clock import jst
from services.notification.application.ports import Texts

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def in_jst(value: datetime | str | None) -> str:
    """A time (or its ISO text, as read models keep it) in Japan time with the zone written."""
    return jst(datetime.fromisoformat(value) if isinstance(value, str) else value)


def show(value: Any) -> str:
    """Any fact value as text: times in JST, lists joined, records as key=value."""
    if isinstance(value, datetime):
        return jst(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, BaseModel):
        value = value.model_dump(exclude_none=True)
    if isinstance(value, dict):
        return ", ".join(f"{k}={show(v)}" for k, v in value.items() if v not in (None, "", []))
    if isinstance(value, (list, tuple)):
        return ", ".join(show(v) for v in value)
    return str(value)


class Templates(Texts):
    """Renders the subject and body of notifications and escalations."""

    def __init__(self, folder: Path = TEMPLATES) -> None:
        self.env = Environment(
            loader=FileSystemLoader(folder), autoescape=False, undefined=ChainableUndefined, keep_trailing_newline=True
        )
        self.env.filters["jst"] = in_jst
        self.env.filters["show"] = show

    def message(self, context: dict[str, Any]) -> tuple[str, str]:
        """(subject, body) of a notification."""
        subject, head = self.head(context)
        return subject, head + self.env.get_template("footer.j2").render(context)

    def head(self, context: dict[str, Any]) -> tuple[str, str]:
        """(subject, body without the member list and the footer) of a notification."""
        subject = self.env.get_template("subject.j2").render(context).strip()
        return subject, self.env.get_template("body.j2").render(context)

    def coalesced(self, context: dict[str, Any]) -> tuple[str, str]:
        """(subject, body) of a coalesced notice: its head, the members it lists and how many, the footer."""
        count = context["count"]
        subject = context["head_subject"] + (f" (全{count}件 / {count} in all)" if count > 1 else "")
        tail = self.env.get_template("members.j2").render(context) + self.env.get_template("footer.j2").render(context)
        return subject, context["head_body"] + tail

    def escalation(self, context: dict[str, Any]) -> tuple[str, str]:
        """(subject, body) of the message to the fallback contact."""
        subject = f"【smguard エスカレーション / Escalation】{context['original_subject']}"
        return subject, self.env.get_template("escalation.j2").render(context)
