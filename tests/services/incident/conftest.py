"""Fixtures of the incident tests."""

from __future__ import annotations

import pytest

from tests.factories import uid


@pytest.fixture
def operator_id() -> str:
    """A unique operator (tenant) id."""
    return uid("op")
