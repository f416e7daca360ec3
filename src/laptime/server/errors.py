"""Errors the API answers with: a 4xx status and a JSON body that says what was wrong."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse


class ApiError(Exception):
    """A request the API refuses: ``status`` (4xx) and a message naming the field at fault."""

    def __init__(self, status: int, message: str, *, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra or {}


def error_response(status: int, message: str, *, extra: dict[str, Any] | None = None) -> JSONResponse:
    return JSONResponse({"error": message, **(extra or {})}, status_code=status)
