"""The HTML pages (issue 11, lines 4 and 5) will be served from this router; it has no routes yet."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
