"""Errors of the incident domain beyond the shared ones."""

from __future__ import annotations

from shared.domain import DomainError


class NotPermitted(DomainError):
    """The caller may see the incident but its party may not do this (HTTP 403)."""

    code = "forbidden"
