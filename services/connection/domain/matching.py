"""Which connections a declared vulnerability concerns: kind, maker, model and a firmware criterion.

Each owner finds its candidates by the ``model`` index of its connections: a normalised
``kind|maker|model`` key, also indexed with ``*`` for maker and/or model, so criteria naming only
a maker, only a model or neither find their candidates too. The firmware is checked on each one.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Iterable, Protocol, Sequence

from shared.events.values import OPERATOR_ASSET_KINDS
from shared.firmware import Firmware

ANY = "*"


def _norm(text: str | None) -> str:
    return (text or "").strip().casefold() or ANY


def model_keys(*, kind: str, maker: str, model: str) -> list[str]:
    """The ``model`` index values of one connection: its exact key and the keys with wildcards."""
    return list(_model_keys(kind, maker, model))


@lru_cache(maxsize=4096)  # a fleet has few models, and every snapshot of its connections asks again
def _model_keys(kind: str, maker: str, model: str) -> tuple[str, ...]:
    maker_, model_ = _norm(maker), _norm(model)
    return tuple(sorted({f"{kind}|{m}|{x}" for m in (maker_, ANY) for x in (model_, ANY)}))


@dataclass(frozen=True)
class VulnerabilityCriteria:
    """The match criteria of a ``VulnerabilityDeclared`` on operator-side equipment."""

    asset_kind: str
    maker: str | None
    model: str | None
    firmware: Firmware

    @property
    def operator_side(self) -> bool:
        """Whether it concerns operator equipment (else: utility-side, matched by smart meters)."""
        return self.asset_kind in OPERATOR_ASSET_KINDS

    @property
    def model_key(self) -> str:
        """The ``model`` index value the candidates hold (``*`` for what the criteria leave open)."""
        return f"{self.asset_kind}|{_norm(self.maker)}|{_norm(self.model)}"

    def matches(self, *, kind: str, maker: str, model: str, firmware: str) -> bool:
        """Whether one connection is an affected unit (maker and model compared case-insensitively)."""
        if not self.operator_side or kind != self.asset_kind:
            return False
        if self.maker and self.maker.strip().casefold() != maker.strip().casefold():
            return False
        if self.model and self.model.strip().casefold() != model.strip().casefold():
            return False
        return self.firmware.matches(firmware)


class Unit(Protocol):
    """What the rule reads of a connection (the aggregate, or its document in the read model)."""

    id: str
    kind: str
    maker: str
    model: str
    firmware: str


def affected(
    criteria: VulnerabilityCriteria,
    smart_meter_ids: Sequence[str],
    *,
    on_meters: Callable[[Sequence[str]], Iterable[str]],
    candidates: Callable[[str], Iterable[Unit]],
) -> list[str]:
    """The connections a vulnerability concerns — the one rule, whoever asks (the owner that blocks them, or a
    preview of how many it would block): a utility-side kind concerns the connections on the listed smart
    meters (none without meters); an operator-side kind the candidates of its ``model`` key whose kind, maker,
    model and firmware match. ``on_meters`` and ``candidates`` look connections up where the caller keeps them."""
    if not criteria.operator_side:
        return sorted(set(on_meters(smart_meter_ids))) if smart_meter_ids else []
    return [
        c.id for c in candidates(criteria.model_key)
        if criteria.matches(kind=c.kind, maker=c.maker, model=c.model, firmware=c.firmware)
    ]  # fmt: skip
