"""The firmware criterion of a vulnerability: one exact version (``2.1.0``) or a PEP 440 range.

One rule for both sides: the incident service refuses a criterion at declaration that the
connection service could not match, and the connection service matches with the same reading.
A text with any of ``< > = ! ~ ,`` is a range (so ``1.0,2.0`` is a range, and not a valid one:
a comma joins conditions that must all hold, e.g. ``>=1.0,<2.0``).
"""

from __future__ import annotations

from dataclasses import dataclass

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from shared.domain import Invalid

RANGE_MARKS = ("<", ">", "=", "!", "~", ",")


@dataclass(frozen=True)
class Firmware:
    """A firmware criterion; no text matches every version. Invalid when a range cannot be read."""

    text: str | None

    def __post_init__(self) -> None:
        if self.is_range:
            try:
                SpecifierSet(self.text or "")
            except InvalidSpecifier:
                raise Invalid(
                    f"firmware range {self.text!r} is not a valid range such as '>=1.0,<1.4' "
                    "(a comma joins conditions that must all hold)"
                ) from None

    @property
    def is_range(self) -> bool:
        """Whether the text is a range rather than one version."""
        return bool(self.text) and any(mark in self.text for mark in RANGE_MARKS)  # type: ignore[operator]

    def matches(self, firmware: str) -> bool:
        """Whether a unit's firmware falls under this criterion."""
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
