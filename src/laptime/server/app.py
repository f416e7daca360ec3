"""The ASGI app: auth, limits, JSON errors, the OpenAPI document, and the routers.

Routers: ``api`` (the read endpoints), ``ingest`` (``POST /events``, ``POST /v1/traces``)
and ``pages`` (the HTML pages, mounted here once they exist).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from laptime.config import Config
from laptime.server import api, ingest, pages
from laptime.server.context import MAX_BODY_BYTES, ServerContext
from laptime.server.errors import ApiError, error_response
from laptime.store import Store

TITLE = "laptime"


def create_app(store: Store, config: Config, token: str | None = None) -> FastAPI:
    """The app serving ``store``. With ``token``, every request needs ``Authorization: Bearer <token>``."""
    app = FastAPI(title=TITLE, version=_version(), docs_url=None, redoc_url=None)
    app.state.laptime = ServerContext(store=store, config=config)
    app.include_router(api.router)
    app.include_router(ingest.router)
    app.include_router(pages.router)
    _add_errors(app)
    _add_limits(app)
    if token is not None:
        _add_auth(app, token)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("laptime")
    except PackageNotFoundError:
        return "0"


def _add_auth(app: FastAPI, token: str) -> None:
    expected = f"Bearer {token}".encode()

    @app.middleware("http")
    async def bearer(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        given = request.headers.get("authorization", "").encode("latin-1", "replace")
        if not hmac.compare_digest(given, expected):  # constant time: the token is not guessed byte by byte
            response = error_response(401, "missing or wrong token: send `Authorization: Bearer <token>`")
            response.headers["WWW-Authenticate"] = "Bearer"
            return response
        return await call_next(request)


def _add_limits(app: FastAPI) -> None:
    @app.middleware("http")
    async def body_size(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        length = request.headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                return error_response(400, "Content-Length is not a number")
            if int(length) > MAX_BODY_BYTES:
                return error_response(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
        if "\x00" in request.url.path or "%00" in request.url.path:
            return error_response(404, "no such resource: the path holds a NUL character")
        return await call_next(request)


def _add_errors(app: FastAPI) -> None:
    async def api_error(request: Request, exc: Exception) -> Response:
        del request
        assert isinstance(exc, ApiError)
        return error_response(exc.status, exc.message, extra=exc.extra)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        message = str(exc.detail)
        if exc.status_code == 404:
            message = f"no such endpoint: {request.method} {request.url.path}; GET /openapi.json lists them"
        elif exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}"
        response = error_response(exc.status_code, message)
        for key, value in (exc.headers or {}).items():
            response.headers[key] = value
        return response

    async def invalid(request: Request, exc: Exception) -> Response:
        del request
        assert isinstance(exc, RequestValidationError)
        errors = [
            {
                "field": ".".join(str(p) for p in e.get("loc", ()) if p not in ("query", "path", "body")) or "?",
                "where": str(e.get("loc", ("?",))[0]),
                "message": str(e.get("msg", "invalid")),
            }
            for e in exc.errors()
        ]
        return JSONResponse({"error": "invalid request", "errors": errors}, status_code=400)

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid)


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, with the shipped result schemas as components and every error documented."""
    if app.openapi_schema:
        return app.openapi_schema
    from fastapi.openapi.utils import get_openapi

    from laptime.server import schemas

    document = get_openapi(title=app.title, version=app.version, routes=app.routes)
    components: dict[str, Any] = document.setdefault("components", {}).setdefault("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    components["Error"] = {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "string"}, "errors": {"type": "array", "items": {"type": "object"}}},
    }
    error = {
        "description": "what was wrong",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            spec = api.RESPONSES.get((method.upper(), path)) or ingest.RESPONSES.get((method.upper(), path))
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            if spec is not None:
                command, body = spec
                if command is not None:
                    content = responses.setdefault("200", {"description": "OK"}).setdefault("content", {})
                    content["application/json"] = {"schema": schemas.output(components, command)}
                if body is not None:
                    operation["requestBody"] = body(components)
            for code in ("400", "401", "404", "405", "409", "413", "422"):
                responses.setdefault(code, error)
    app.openapi_schema = document
    return document
