"""The write endpoints: ``POST /events`` (the event schema) and ``POST /v1/traces`` (OTLP/HTTP).

Both append through the importers' de-duplicating appender (``importers.base.append_events``),
so a batch sent again adds nothing. ``POST /events`` is all or nothing: when any event of a
batch is invalid, none is kept, and the answer lists each bad one by index and field.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import msgspec
from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from laptime.server.api import context, json_response
from laptime.server.context import MAX_BATCH_EVENTS, MAX_BODY_BYTES
from laptime.server.errors import ApiError

router = APIRouter()

_FIELD = re.compile(r"- at `\$\.?([^`]*)`")
PROTOBUF = "application/x-protobuf"


def _events_body(components: dict[str, Any]) -> dict[str, Any]:
    from laptime.server import schemas

    return {"required": True, "content": {"application/json": {"schema": schemas.event_batch(components)}}}


def _traces_body(components: dict[str, Any]) -> dict[str, Any]:
    del components
    document = {
        "type": "object",
        "required": ["resourceSpans"],
        "properties": {"resourceSpans": {"type": "array", "items": {"type": "object"}}},
    }
    return {
        "required": True,
        "content": {
            "application/json": {"schema": document},
            PROTOBUF: {"schema": {"type": "string", "format": "binary"}},
        },
    }


RESPONSES: dict[tuple[str, str], tuple[str | None, Callable[[dict[str, Any]], dict[str, Any]] | None]] = {
    ("POST", "/events"): (None, _events_body),
    ("POST", "/v1/traces"): (None, _traces_body),
}


async def read_body(request: Request) -> bytes:
    """The body, refused with 413 past MAX_BODY_BYTES (a chunked body has no Content-Length to check first)."""
    parts: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise ApiError(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
        parts.append(chunk)
    return b"".join(parts)


def _decode_json(data: bytes) -> Any:
    from laptime.importers.records import TOO_DEEP, too_deep_at

    if too_deep_at(data) is not None:
        raise ApiError(400, f"the body is not usable JSON: {TOO_DEEP}")
    try:
        return msgspec.json.decode(data)
    except (msgspec.DecodeError, RecursionError) as exc:
        raise ApiError(400, f"the body is not JSON: {exc}") from None


def validate_batch(items: list[Any]) -> tuple[list[Any], list[dict[str, Any]]]:
    """The events of a batch, validated as the log reads them (``events.decode``), and one
    error per bad event with its index and the field at fault."""
    from laptime import events as ev

    good = []
    errors = []
    for i, item in enumerate(items):
        try:
            event = ev.decode(msgspec.json.encode(item))
        except ev.EventDecodeError as exc:
            match = _FIELD.search(str(exc))
            errors.append({"index": i, "field": (match.group(1) if match else "") or "$", "message": str(exc)})
            continue
        good.append(event)
    return good, errors


@router.post("/events", status_code=200)
async def post_events(request: Request) -> Response:
    """Append a batch `{"events": [...]}` of the event schema (docs/events.md); idempotent by event id."""
    body = _decode_json(await read_body(request))
    if not isinstance(body, dict) or not isinstance(body.get("events"), list) or set(body) - {"events"}:
        raise ApiError(400, 'the body must be {"events": [event, ...]} (docs/events.md)')
    items = body["events"]
    if len(items) > MAX_BATCH_EVENTS:
        raise ApiError(413, f"{len(items)} events in one batch; send at most {MAX_BATCH_EVENTS}")
    events, errors = validate_batch(items)
    if errors:
        return json_response(
            {"error": f"{len(errors)} of {len(items)} events are invalid; none was kept", "errors": errors}, 422
        )
    result = await run_in_threadpool(_append, request, events)
    return json_response(
        {"received": len(items), "new": result.events_new, "duplicates": len(items) - result.events_new}
    )


def _append(request: Request, events: list[Any]) -> Any:
    from laptime.importers.base import append_events

    ctx = context(request)
    with ctx.append_lock:
        return append_events(ctx.store, events)


@router.post("/v1/traces")
async def post_traces(request: Request) -> Response:
    """OTLP/HTTP traces, JSON or protobuf (`Content-Type: application/x-protobuf`), mapped by the OTLP importer."""
    from laptime.importers.otlp import document_events, protobuf_document
    from laptime.importers.records import RecordError

    data = await read_body(request)
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == PROTOBUF:
        try:
            document = protobuf_document(data)
        except RecordError as exc:
            raise ApiError(400, str(exc)) from None
    elif kind in ("application/json", ""):
        document = _decode_json(data)
    else:
        raise ApiError(415, f"Content-Type {kind!r}: send application/json or {PROTOBUF}")
    events, errors = document_events(document, "POST /v1/traces")
    if errors and not events:
        raise ApiError(400, "; ".join(errors[:5]))
    if events:
        await run_in_threadpool(_append, request, events)
    return _export_response(kind == PROTOBUF, rejected=len(errors), message="; ".join(errors[:5]))


def _export_response(protobuf: bool, *, rejected: int, message: str) -> Response:
    """OTLP's ExportTraceServiceResponse, in the request's encoding; partial success names the rejected spans."""
    if protobuf:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

        answer = ExportTraceServiceResponse()
        if rejected:
            answer.partial_success.rejected_spans = rejected
            answer.partial_success.error_message = message
        return Response(answer.SerializeToString(), media_type=PROTOBUF)
    body: dict[str, Any] = {}
    if rejected:
        body["partialSuccess"] = {"rejectedSpans": str(rejected), "errorMessage": message}
    return json_response(body)
