"""Which connections a declared vulnerability concerns: kind, maker, model and a firmware criterion."""

from __future__ import annotations

from dataclasses import dataclass

from shared.events.values import OPERATOR_ASSET_KINDS
from shared.firmware import Firmware


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

    def matches(self, *, kind: str, maker: str, model: str, firmware: str) -> bool:
        """Whether one connection is an affected unit (maker and model compared case-insensitively)."""
        if not self.operator_side or kind != self.asset_kind:
            return False
        if self.maker and self.maker.strip().casefold() != maker.strip().casefold():
            return False
        if self.model and self.model.strip().casefold() != model.strip().casefold():
            return False
        return self.firmware.matches(firmware)
