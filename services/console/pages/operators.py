"""The console's operators pages (to be built)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
