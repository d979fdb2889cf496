"""Which connections a declared vulnerability concerns: kind, maker, model and a firmware range."""

from __future__ import annotations

from dataclasses import dataclass

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from shared.domain import Invalid
from shared.events.values import OPERATOR_ASSET_KINDS

_RANGE_MARKS = ("<", ">", "=", "!", "~", ",")


@dataclass(frozen=True)
class FirmwareMatcher:
    """Firmware given exactly (``2.1.0``) or as a PEP 440 range (``>=2.0,<2.3``, ``==2.1.*``)."""

    text: str | None

    def __post_init__(self) -> None:
        if self.is_range:
            try:
                SpecifierSet(self.text or "")
            except InvalidSpecifier as exc:
                raise Invalid(f"firmware range {self.text!r} is not a version range: {exc}") from None

    @property
    def is_range(self) -> bool:
        """Whether the text is a range rather than one version."""
        return bool(self.text) and any(mark in self.text for mark in _RANGE_MARKS)  # type: ignore[operator]

    def matches(self, firmware: str) -> bool:
        """Whether a unit's firmware falls under this criterion (no criterion matches all)."""
        if not self.text:
            return True
        if not self.is_range:
            return _same_version(self.text.strip(), firmware.strip())
        try:
            return SpecifierSet(self.text).contains(Version(firmware), prereleases=True)
        except InvalidVersion:
            return False


def _same_version(wanted: str, actual: str) -> bool:
    if wanted.casefold() == actual.casefold():
        return True
    try:
        return Version(wanted) == Version(actual)
    except InvalidVersion:
        return False


@dataclass(frozen=True)
class VulnerabilityCriteria:
    """The match criteria of a ``VulnerabilityDeclared`` on operator-side equipment."""

    asset_kind: str
    maker: str | None
    model: str | None
    firmware: FirmwareMatcher

    @property
    def operator_side(self) -> bool:
        """Whether it concerns operator equipment (else: utility-side, matched by smart meters)."""
        return self.asset_kind in OPERATOR_ASSET_KINDS

    def matches(self, *, kind: str, maker: str, model: str, firmware: str) -> bool:
        """Whether one connection is an affected unit."""
        if not self.operator_side or kind != self.asset_kind:
            return False
        if self.maker and self.maker.strip().casefold() != maker.strip().casefold():
            return False
        if self.model and self.model.strip().casefold() != model.strip().casefold():
            return False
        return self.firmware.matches(firmware)
