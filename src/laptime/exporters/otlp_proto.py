"""An OTLP/JSON document (``exporters.otlp``) as OTLP protobuf, the encoding every OTLP/HTTP
receiver takes (some, Phoenix among them, take no other). Needs ``opentelemetry-proto``
(the ``laptime[otel]`` extra)."""

from __future__ import annotations

from typing import Any


def to_protobuf(document: dict[str, Any]) -> bytes:
    """The ``ExportTraceServiceRequest`` of ``document``, serialised."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = ExportTraceServiceRequest()
    for resource_spans in document["resourceSpans"]:
        out = request.resource_spans.add()
        _attributes(out.resource.attributes, resource_spans["resource"]["attributes"])
        for scope_spans in resource_spans["scopeSpans"]:
            scope = out.scope_spans.add()
            scope.scope.name = scope_spans["scope"]["name"]
            scope.scope.version = scope_spans["scope"].get("version", "")
            for span in scope_spans["spans"]:
                _span(scope.spans.add(), span)
    return bytes(request.SerializeToString())


def _span(out: Any, span: dict[str, Any]) -> None:
    out.trace_id = bytes.fromhex(span["traceId"])
    out.span_id = bytes.fromhex(span["spanId"])
    if "parentSpanId" in span:
        out.parent_span_id = bytes.fromhex(span["parentSpanId"])
    out.name = span["name"]
    out.kind = span["kind"]
    out.start_time_unix_nano = int(span["startTimeUnixNano"])
    out.end_time_unix_nano = int(span["endTimeUnixNano"])
    _attributes(out.attributes, span["attributes"])
    for event in span.get("events", []):
        added = out.events.add()
        added.name = event["name"]
        added.time_unix_nano = int(event["timeUnixNano"])
        _attributes(added.attributes, event["attributes"])
    status = span.get("status")
    if status is not None:
        out.status.code = status["code"]
        out.status.message = status.get("message", "")


def _attributes(out: Any, items: list[dict[str, Any]]) -> None:
    for item in items:
        kv = out.add()
        kv.key = item["key"]
        ((kind, value),) = item["value"].items()
        if kind == "stringValue":
            kv.value.string_value = value
        elif kind == "intValue":
            kv.value.int_value = int(value)
        elif kind == "doubleValue":
            kv.value.double_value = value
        else:
            kv.value.bool_value = value
