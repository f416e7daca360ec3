"""OTLP/JSON trace files that use the OpenTelemetry GenAI conventions (FORMATS.md).

A file holds one ``{"resourceSpans": [...]}`` document (an OTLP/JSON export, pretty
printed or not), or JSON Lines of such documents (the collector's file exporter).

Mapping (docs/importers.md has the full table):

- a **trace** is a run; the run id is the trace id. The run starts at its root span's
  start (or the earliest span first seen) and ends with its root span;
- every OTLP span is a span: ``invoke_workflow`` a phase, ``invoke_agent`` a task,
  ``chat``/``text_completion``/``generate_content``/``embeddings`` an llm span,
  ``execute_tool`` a tool span, anything else ``other``. Span ids are the trace id's
  first half plus the span id, so parents need no look-ahead;
- an llm span with usage attributes also gives an ``llm`` usage event:
  ``gen_ai.usage.input_tokens`` includes cached tokens (``input_includes_cache``), the
  model is ``gen_ai.response.model``, else ``gen_ai.request.model``; a reported cost
  comes from ``laptime.cost_usd``;
- status ``ERROR`` or an ``error.type`` attribute make the span ``failed``;
- **Claude Code's telemetry** (``CLAUDE_CODE_ENABLE_TELEMETRY``, beta tracing): a
  ``claude_code.interaction`` (one prompt) holds its spans; ``claude_code.llm_request``
  is an llm span whose ``input_tokens``, ``output_tokens``, ``cache_read_tokens`` and
  ``cache_creation_tokens`` are in Anthropic's meaning (input without cache) and
  ``model`` names the model; ``claude_code.tool`` holds ``claude_code.tool.blocked_on_user``
  (waiting for the user's permission: ``waiting_on: human``) and
  ``claude_code.tool.execution`` (a tool span). A span with a true ``blocked_on_user``
  or ``tool.blocked_on_user`` attribute waits on a human too.

``document_events`` maps a document received over HTTP (``POST /v1/traces``; a protobuf
body is first turned into the same JSON form by ``protobuf_document``).

JSON Lines files are read incrementally; a single-document file that changed is read
again whole, and the ids (derived from trace and span ids) keep only what is new.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import msgspec

from laptime import events as ev
from laptime.importers.base import (
    FileState,
    ImportContext,
    Importer,
    find_files,
    open_regular,
    read_regular_bytes,
    run_start,
    source_event_id,
    timestamp,
)
from laptime.importers.choragen import read_lines
from laptime.importers.records import TOO_DEEP, RecordError, too_deep_at

NAME = "otlp"
_MODE_LINES = 8  # lines looked at to tell JSON Lines from one pretty-printed document
_MAX_NS = 253_402_300_799_999_999_000
_HEX = re.compile(r"^[0-9a-f]+$")
_LLM_OPERATIONS = frozenset({"chat", "text_completion", "generate_content", "embeddings"})
_KIND_OF_OPERATION: dict[str, ev.SpanKind] = {
    "invoke_workflow": "phase",
    "invoke_agent": "task",
    "create_agent": "other",
    "execute_tool": "tool",
    **dict.fromkeys(_LLM_OPERATIONS, "llm"),
}
_STATUS_ERROR = 2
LAPTIME_EVENT_PREFIX = "laptime."  # exporters.genai.POINT_EVENT_PREFIX: a laptime export's span events
# Claude Code's span names (its beta tracing) -> kind; a tool span holds its permission wait
# and its execution, so it is only a container (kind other, no activity of its own).
_CLAUDE_CODE_KINDS: dict[str, ev.SpanKind] = {
    "claude_code.interaction": "other",
    "claude_code.llm_request": "llm",
    "claude_code.tool": "other",
    "claude_code.tool.blocked_on_user": "other",
    "claude_code.tool.execution": "tool",
}
_CLAUDE_CODE_LLM = "claude_code.llm_request"
_CLAUDE_CODE_WAIT = "claude_code.tool.blocked_on_user"
_CLAUDE_CODE_USAGE = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens")


@dataclass(frozen=True, slots=True)
class OtlpSpan:
    """One parsed OTLP span, with its resource's attributes."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    start_ns: int
    end_ns: int | None
    attrs: dict[str, Any]
    status_error: bool = False
    status_message: str | None = None
    resource: dict[str, Any] = field(default_factory=dict)
    # span events that carry a laptime point event: (name, its laptime.event JSON)
    laptime_events: list[str] = field(default_factory=list)

    @property
    def operation(self) -> str:
        op = self.attrs.get("gen_ai.operation.name")
        if isinstance(op, str) and op:
            return op
        return self.name.split(" ", 1)[0]

    @property
    def kind(self) -> ev.SpanKind:
        given = self.attrs.get("laptime.kind")
        if isinstance(given, str) and given in ev.SPAN_KINDS and given != "run":
            return given  # type: ignore[return-value]
        claude_code = _CLAUDE_CODE_KINDS.get(self.name)
        if claude_code is not None:
            return claude_code
        return _KIND_OF_OPERATION.get(self.operation, "other")

    @property
    def waits_on_user(self) -> bool:
        """Claude Code waiting for its user's permission to run a tool."""
        return self.name == _CLAUDE_CODE_WAIT or any(
            self.attrs.get(key) in (True, "true") for key in ("blocked_on_user", "tool.blocked_on_user")
        )


def _any_value(value: Any, where: str) -> Any:  # noqa: PLR0911 - one return per AnyValue variant
    """An OTLP/JSON AnyValue as a plain JSON value."""
    if not isinstance(value, dict):
        raise RecordError(f"{where}: an attribute value must be an object, got {type(value).__name__}")
    if not value:
        return None
    if "stringValue" in value:
        text = value["stringValue"]
        if not isinstance(text, str):
            raise RecordError(f"{where}.stringValue must be a string")
        return text
    if "boolValue" in value:
        flag = value["boolValue"]
        if not isinstance(flag, bool):
            raise RecordError(f"{where}.boolValue must be true or false")
        return flag
    if "intValue" in value:
        return _int(value["intValue"], f"{where}.intValue")
    if "doubleValue" in value:
        number = value["doubleValue"]
        if isinstance(number, bool) or not isinstance(number, int | float | str):
            raise RecordError(f"{where}.doubleValue must be a number")
        try:
            result = float(number)
        except OverflowError:  # an integer past float's range
            return None  # as for an infinite double: JSON cannot hold it
        except ValueError:
            raise RecordError(f"{where}.doubleValue {number!r} is not a number") from None
        return result if math.isfinite(result) else None  # JSON has no NaN or Infinity
    if "arrayValue" in value:
        array = value["arrayValue"]
        items = array.get("values", []) if isinstance(array, dict) else None
        if not isinstance(items, list):
            raise RecordError(f"{where}.arrayValue must hold a list of values")
        return [_any_value(item, f"{where}.arrayValue[{i}]") for i, item in enumerate(items)]
    if "kvlistValue" in value:
        kvlist = value["kvlistValue"]
        items = kvlist.get("values", []) if isinstance(kvlist, dict) else None
        if not isinstance(items, list):
            raise RecordError(f"{where}.kvlistValue must hold a list of key-values")
        return _attributes(items, f"{where}.kvlistValue")
    if "bytesValue" in value:
        data = value["bytesValue"]
        if not isinstance(data, str):
            raise RecordError(f"{where}.bytesValue must be a base64 string")
        return data
    return None


def _int(value: Any, where: str) -> int:
    """OTLP/JSON writes 64-bit integers as strings; accept numbers too.

    Not records.get_int: nanosecond times need the whole 64 bits, past its 2**53 bound.
    """
    if isinstance(value, bool):
        raise RecordError(f"{where} must be an integer, got a boolean")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise RecordError(f"{where} {value!r} is not an integer") from None
    if not isinstance(value, int):
        raise RecordError(f"{where} must be an integer, got {type(value).__name__}")
    if abs(value) >= 1 << 63:
        raise RecordError(f"{where} {value} does not fit 64 bits")
    return value


def _attributes(items: Any, where: str) -> dict[str, Any]:
    if items is None:
        return {}
    if not isinstance(items, list):
        raise RecordError(f"{where} must be a list of {{key, value}}")
    out: dict[str, Any] = {}
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            raise RecordError(f"{where}[{i}] must be an object with a string `key`")
        out[item["key"]] = _any_value(item.get("value", {}), f"{where}[{i}]")
    return out


def _hex_id(value: Any, where: str, length: int) -> str:
    if not isinstance(value, str) or not value:
        raise RecordError(f"missing {where}")
    text = value.lower()
    if len(text) != length or not _HEX.match(text) or text == "0" * length:
        raise RecordError(f"{where} {value!r} is not {length} hex digits")
    return text


def _time_ns(value: Any, where: str) -> int:
    ns = _int(value, where)
    if not 0 < ns <= _MAX_NS:
        raise RecordError(f"{where} {value!r} is out of range")
    return ns


def parse_span(obj: Any, resource: dict[str, Any] | None = None, where: str = "span") -> OtlpSpan:
    """One OTLP/JSON span. Raises RecordError (only) for anything unusable."""
    if not isinstance(obj, dict):
        raise RecordError(f"{where} must be an object, got {type(obj).__name__}")
    trace_id = _hex_id(obj.get("traceId"), f"{where}.traceId", 32)
    span_id = _hex_id(obj.get("spanId"), f"{where}.spanId", 16)
    parent = obj.get("parentSpanId")
    parent_id = _hex_id(parent, f"{where}.parentSpanId", 16) if parent else None
    name = obj.get("name")
    if not isinstance(name, str):
        raise RecordError(f"{where}.name must be a string")
    if "startTimeUnixNano" not in obj:
        raise RecordError(f"missing {where}.startTimeUnixNano")
    start_ns = _time_ns(obj["startTimeUnixNano"], f"{where}.startTimeUnixNano")
    end_raw = obj.get("endTimeUnixNano")
    end_ns = None if end_raw in (None, 0, "0", "") else _time_ns(end_raw, f"{where}.endTimeUnixNano")
    if end_ns is not None and end_ns < start_ns:
        raise RecordError(f"{where} ends before it starts")
    attrs = _attributes(obj.get("attributes"), f"{where}.attributes")
    status = obj.get("status") or {}
    if not isinstance(status, dict):
        raise RecordError(f"{where}.status must be an object")
    code = status.get("code", 0)
    error = code in (_STATUS_ERROR, "STATUS_CODE_ERROR", str(_STATUS_ERROR))
    message = status.get("message")
    return OtlpSpan(
        laptime_events=_laptime_events(obj.get("events"), where),
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent_id,
        name=name or "(unnamed)",
        start_ns=start_ns,
        end_ns=end_ns,
        attrs=attrs,
        status_error=error,
        status_message=message if isinstance(message, str) and message else None,
        resource=resource or {},
    )


def parse_document(obj: Any) -> Iterator[OtlpSpan | RecordError]:
    """Every span of an OTLP/JSON traces document, or the error that made one unusable."""
    if not isinstance(obj, dict):
        yield RecordError(f"not an OTLP/JSON object but {type(obj).__name__}")
        return
    resource_spans = obj.get("resourceSpans")
    if not isinstance(resource_spans, list):
        yield RecordError("missing `resourceSpans` list: not an OTLP/JSON traces document")
        return
    for r, rs in enumerate(resource_spans):
        where = f"resourceSpans[{r}]"
        if not isinstance(rs, dict):
            yield RecordError(f"{where} must be an object")
            continue
        resource_obj = rs.get("resource") or {}
        if not isinstance(resource_obj, dict):
            yield RecordError(f"{where}.resource must be an object")
            continue
        try:
            resource = _attributes(resource_obj.get("attributes"), f"{where}.resource.attributes")
        except RecordError as exc:
            yield exc
            continue
        scopes = rs.get("scopeSpans", rs.get("instrumentationLibrarySpans", []))
        if not isinstance(scopes, list):
            yield RecordError(f"{where}.scopeSpans must be a list")
            continue
        for s, scope in enumerate(scopes):
            spans = scope.get("spans", []) if isinstance(scope, dict) else None
            if not isinstance(spans, list):
                yield RecordError(f"{where}.scopeSpans[{s}].spans must be a list")
                continue
            for i, span in enumerate(spans):
                try:
                    yield parse_span(span, resource, f"{where}.scopeSpans[{s}].spans[{i}]")
                except RecordError as exc:
                    yield exc


def _reported_cost(value: Any) -> float | None:
    """A cost a span reports, in USD, when it is a number of 0 or more."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0 else None


def _laptime_events(items: Any, where: str) -> list[str]:
    """The laptime point events a laptime export put on a span (other span events, such
    as exceptions, are not events of laptime's and are left alone)."""
    if not isinstance(items, list):
        return []
    found = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not str(item.get("name", "")).startswith(LAPTIME_EVENT_PREFIX):
            continue
        attrs = _attributes(item.get("attributes"), f"{where}.events[{i}].attributes")
        text = attrs.get("laptime.event")
        if not isinstance(text, str):
            raise RecordError(f"{where}.events[{i}] ({item.get('name')}) has no laptime.event attribute")
        found.append(text)
    return found


def _tokens(attrs: dict[str, Any], *keys: str) -> int:
    for key in keys:
        value = attrs.get(key)
        if isinstance(value, bool):
            continue
        if isinstance(value, int | float) and value >= 0:
            return int(value)
        if isinstance(value, str) and value.isdigit():
            return int(value)
    return 0


class _Builder:
    """Spans to events; remembers which traces have their run span already."""

    def __init__(self, file: Path, extra: dict[str, Any], warn: Callable[[int, str], None] | None = None) -> None:
        self.file = str(file)
        self.warn = warn  # a bad span of a laptime export: warned about (else raised), the rest kept
        self.traces: dict[str, list[bool]] = extra.setdefault("traces", {})  # trace -> [started, ended]

    @staticmethod
    def span_id(span: OtlpSpan) -> str:
        return f"{span.trace_id[:16]}{span.span_id}"

    def _source(self, line: int, span: OtlpSpan) -> ev.Source:
        return ev.Source(NAME, self.file, f"{line}:{span.span_id}")

    def document(self, spans: list[OtlpSpan], line: int) -> Iterator[ev.Event]:
        by_trace: dict[str, list[OtlpSpan]] = {}
        for span in spans:
            by_trace.setdefault(span.trace_id, []).append(span)
        for trace_id, members in by_trace.items():
            if all("laptime.kind" in s.attrs for s in members):
                yield from self._laptime_trace(members, line)
                continue
            state = self.traces.setdefault(trace_id, [False, False])
            root = next((s for s in members if s.parent_span_id is None), None)
            if not state[0]:
                state[0] = True
                first = root or min(members, key=lambda s: s.start_ns)
                yield self._run_start(trace_id, first, root, line)
            for span in sorted(members, key=lambda s: (s.start_ns, s.span_id)):
                yield from self.span_events(span, line)
            if root is not None and root.end_ns is not None and not state[1]:
                state[1] = True
                yield ev.SpanEnd(
                    v=ev.SCHEMA_VERSION,
                    id=source_event_id(root.end_ns, NAME, trace_id, "run-end"),
                    ts=timestamp(root.end_ns),
                    run=trace_id,
                    span=trace_id,
                    outcome="failed" if self._failed(root) else "completed",
                    error=self._error(root),
                    source=self._source(line, root),
                )

    def _laptime_trace(self, spans: list[OtlpSpan], line: int) -> Iterator[ev.Event]:
        """A trace that laptime exported (every span has ``laptime.kind``): its events as
        they were, ids included, so that the imported run is the run exported
        (docs/importers.md). Only the source says it came through OTLP."""
        for span in sorted(spans, key=lambda s: (s.start_ns, s.span_id)):
            source = self._source(line, span)
            try:
                events = list(_laptime_span_events(span, source))
                events.extend(
                    msgspec.structs.replace(_decode_event(text, f"span {span.name!r}: laptime.event"), source=source)
                    for text in span.laptime_events
                )
            except RecordError as exc:
                if self.warn is None:
                    raise
                self.warn(line, f"{exc}; span skipped")
                continue
            yield from events

    def _run_start(self, trace_id: str, first: OtlpSpan, root: OtlpSpan | None, line: int) -> ev.SpanStart:
        attrs: dict[str, Any] = {"runner": NAME, "otel.trace_id": trace_id}
        anchor = root or first
        for key in ("gen_ai.conversation.id", "gen_ai.workflow.name", "gen_ai.agent.name", "gen_ai.provider.name"):
            if key in anchor.attrs:
                attrs[key] = anchor.attrs[key]
        for key in ("service.name", "service.version"):
            if key in anchor.resource:
                attrs[key] = anchor.resource[key]
        name = anchor.attrs.get("gen_ai.workflow.name") or anchor.attrs.get("gen_ai.agent.name") or anchor.name
        return run_start(
            trace_id, ts=timestamp(anchor.start_ns), name=str(name), attrs=attrs, source=self._source(line, anchor)
        )

    @staticmethod
    def _failed(span: OtlpSpan) -> bool:
        return span.status_error or bool(span.attrs.get("error.type"))

    @staticmethod
    def _error(span: OtlpSpan) -> str | None:
        if not (span.status_error or span.attrs.get("error.type")):
            return None
        parts = [str(p) for p in (span.attrs.get("error.type"), span.status_message) if p]
        return ": ".join(parts) or "error"

    def span_events(self, span: OtlpSpan, line: int) -> Iterator[ev.Event]:
        own = self.span_id(span)
        parent = f"{span.trace_id[:16]}{span.parent_span_id}" if span.parent_span_id else span.trace_id
        source = self._source(line, span)
        attrs = {**span.attrs, "otel.span_id": span.span_id}
        if span.status_error:
            attrs["otel.status_code"] = "ERROR"
        if span.waits_on_user:
            attrs["waiting_on"] = "human"
        yield ev.SpanStart(
            v=ev.SCHEMA_VERSION,
            id=own,
            span=own,
            run=span.trace_id,
            parent=parent,
            kind=span.kind,
            name=span.name,
            ts=timestamp(span.start_ns),
            attrs=attrs,
            source=source,
        )
        if span.end_ns is None:
            return  # still open when exported: running
        yield ev.SpanEnd(
            v=ev.SCHEMA_VERSION,
            id=source_event_id(span.end_ns, NAME, span.trace_id, span.span_id, "end"),
            ts=timestamp(span.end_ns),
            run=span.trace_id,
            parent=parent,
            span=own,
            outcome="failed" if self._failed(span) else "completed",
            error=self._error(span),
            source=source,
        )
        if span.kind == "llm" and any(k.startswith("gen_ai.usage.") for k in span.attrs):
            yield self._usage(span, own, parent, source)
        elif span.name == _CLAUDE_CODE_LLM and any(k in span.attrs for k in _CLAUDE_CODE_USAGE):
            yield self._claude_code_usage(span, own, parent, source)

    @staticmethod
    def _claude_code_usage(span: OtlpSpan, own: str, parent: str, source: ev.Source) -> ev.LlmUsage:
        a = span.attrs
        assert span.end_ns is not None
        model = a.get("model")
        cost = a.get("cost_usd")
        return ev.LlmUsage(
            v=ev.SCHEMA_VERSION,
            id=source_event_id(span.end_ns, NAME, span.trace_id, span.span_id, "llm"),
            ts=timestamp(span.end_ns),
            run=span.trace_id,
            parent=parent,
            span=own,
            provider="anthropic",
            model=model if isinstance(model, str) and model else "unknown",
            input_tokens=_tokens(a, "input_tokens"),
            output_tokens=_tokens(a, "output_tokens"),
            cache_read_tokens=_tokens(a, "cache_read_tokens"),
            cache_write_tokens=_tokens(a, "cache_creation_tokens"),
            input_includes_cache=False,  # Anthropic's meaning, as Claude Code reports it
            latency_ms=(span.end_ns - span.start_ns) / 1e6,
            cost_usd=_reported_cost(cost),
            source=source,
        )

    def _usage(self, span: OtlpSpan, own: str, parent: str, source: ev.Source) -> ev.LlmUsage:
        a = span.attrs
        assert span.end_ns is not None
        model = a.get("gen_ai.response.model") or a.get("gen_ai.request.model")
        if not isinstance(model, str) or not model:
            model = span.name.split(" ", 1)[1] if " " in span.name else "unknown"
        provider = a.get("gen_ai.provider.name") or a.get("gen_ai.system") or ""
        cost = a.get("laptime.cost_usd")
        agent = a.get("gen_ai.agent.name")
        return ev.LlmUsage(
            v=ev.SCHEMA_VERSION,
            id=source_event_id(span.end_ns, NAME, span.trace_id, span.span_id, "llm"),
            ts=timestamp(span.end_ns),
            run=span.trace_id,
            parent=parent,
            span=own,
            provider=str(provider),
            model=model,
            input_tokens=_tokens(a, "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"),
            output_tokens=_tokens(a, "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens"),
            cache_read_tokens=_tokens(
                a, "gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens"
            ),
            cache_write_tokens=_tokens(
                a, "gen_ai.usage.cache_creation.input_tokens", "gen_ai.usage.cache_creation_input_tokens"
            ),
            input_includes_cache=True,
            latency_ms=(span.end_ns - span.start_ns) / 1e6,
            cost_usd=_reported_cost(cost),
            worker=agent if isinstance(agent, str) and agent else None,
            source=source,
        )


def _decode_event(text: str, where: str) -> ev.Event:
    try:
        return ev.decode(text)
    except (ev.EventDecodeError, ValueError) as exc:
        raise RecordError(f"{where} is not a laptime event: {exc}") from None


def _json_attrs(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    try:
        decoded = msgspec.json.decode(str(value))
    except msgspec.DecodeError:
        raise RecordError(f"{where} is not JSON") from None
    if not isinstance(decoded, dict):
        raise RecordError(f"{where} is not a JSON object")
    return decoded


def _laptime_span_events(span: OtlpSpan, source: ev.Source) -> Iterator[ev.Event]:
    a = span.attrs
    kind, run = a.get("laptime.kind"), a.get("laptime.run_id")
    if kind not in ev.SPAN_KINDS or not isinstance(run, str) or not run:
        raise RecordError(f"span {span.name!r}: laptime.kind / laptime.run_id are not a laptime span's")
    if "laptime.llm" in a:
        usage = _decode_event(str(a["laptime.llm"]), f"span {span.name!r}: laptime.llm")
        if not isinstance(usage, ev.LlmUsage):
            raise RecordError(f"span {span.name!r}: laptime.llm is not an llm event")
    else:
        usage = None
    if a.get("laptime.untimed") is True:
        if usage is not None:
            yield msgspec.structs.replace(usage, source=source)
        return
    own, parent = str(a.get("laptime.span_id") or ""), a.get("laptime.parent_id")
    yield ev.SpanStart(
        v=ev.SCHEMA_VERSION,
        id=own,
        span=own,
        run=run,
        parent=str(parent) if parent is not None else None,
        kind=kind,
        name=str(a.get("laptime.name", span.name)),
        ts=timestamp(span.start_ns),
        attrs=_json_attrs(a.get("laptime.attrs"), f"span {span.name!r}: laptime.attrs"),
        source=source,
    )
    if usage is not None:
        yield msgspec.structs.replace(usage, source=source)
    if span.end_ns is None:
        return
    outcome = a.get("laptime.outcome", "completed")
    if outcome not in ev.OUTCOMES:
        raise RecordError(f"span {span.name!r}: laptime.outcome {outcome!r} is not an outcome")
    error = a.get("laptime.error")
    yield ev.SpanEnd(
        v=ev.SCHEMA_VERSION,
        id=str(a.get("laptime.end_id") or source_event_id(span.end_ns, NAME, run, own, "end")),
        ts=timestamp(span.end_ns),
        run=run,
        span=own,
        outcome=outcome,
        error=str(error) if error is not None else None,
        attrs=_json_attrs(a.get("laptime.end_attrs"), f"span {span.name!r}: laptime.end_attrs"),
        source=source,
    )


_BYTE = re.compile(r"byte (\d+)")


def _decode(data: bytes) -> Any:
    """msgspec's decode, with JSON too deep to parse refused as a RecordError (it would
    raise RecursionError, in msgspec or in the recursive attribute readers here)."""
    deep = too_deep_at(data)
    if deep is not None:
        raise RecordError(TOO_DEEP, byte=deep)
    try:
        return msgspec.json.decode(data)
    except RecursionError:
        raise RecordError(TOO_DEEP) from None


def _line_of_error(data: bytes, exc: Exception) -> int:
    """The line a JSON syntax error points at. Not RecordError.line_in: a truncated
    document points at its last line that has text, not past a trailing newline."""
    match = _BYTE.search(str(exc))
    if not match:
        return data.rstrip().count(b"\n") + 1 if "truncated" in str(exc) else 1
    return data.count(b"\n", 0, int(match.group(1))) + 1


class OtlpImporter(Importer):
    """``laptime import otlp traces.json``."""

    name: ClassVar[str] = NAME
    append_only: ClassVar[bool] = True

    def discover(self, path: Path) -> Iterator[Path]:
        return find_files(path, ("*.json", "*.jsonl", "*.ndjson"))

    def detect(self, path: Path) -> bool:
        """An OTLP/JSON file, or a folder whose first JSON files (up to 20) include one."""
        if path.is_dir():
            return any(self.detect(file) for _, file in zip(range(20), self.discover(path), strict=False))
        if not path.is_file():
            return False
        with open_regular(path) as handle:
            head = handle.read(4096)
        return b'"resourceSpans"' in head

    def read(self, file: Path, state: FileState, ctx: ImportContext) -> Iterator[ev.Event]:
        mode = state.extra.get("mode")
        if mode is None or mode == "document":
            mode = self._mode(file)
        if mode == "document":
            # One document: read again whole when it changed; ids keep only what is new.
            state.offset = 0
            state.extra = {"mode": "document"}
            yield from self._read_document(file, state, ctx)
            return
        state.extra["mode"] = "lines"
        builder = _Builder(file, state.extra, ctx.warn)
        for number, line in read_lines(file, state, ctx):
            try:
                obj = _decode(line)
            except RecordError as exc:
                ctx.warn(number, str(exc))
                continue
            except msgspec.DecodeError as exc:
                ctx.warn(number, f"not JSON ({exc})")
                continue
            yield from self._spans(builder, obj, number, ctx)

    @staticmethod
    def _mode(file: Path) -> str:
        """ "lines" when one of the first few lines is a whole OTLP document on its own
        (JSON Lines), else "document" (pretty printed over many lines). Not the first
        line alone: a JSON Lines file whose first line is damaged would then be read as
        one broken document, losing every good line after it."""
        with open_regular(file) as handle:
            for _ in range(_MODE_LINES):
                line = handle.readline(1 << 24)
                if not line:
                    break
                if b'"resourceSpans"' not in line:
                    continue
                try:
                    obj = _decode(line)
                except (msgspec.DecodeError, RecordError):
                    continue
                if isinstance(obj, dict):
                    return "lines"
        return "document"

    def _read_document(self, file: Path, state: FileState, ctx: ImportContext) -> Iterator[ev.Event]:
        data = read_regular_bytes(file)
        ctx.record(1, len(data))
        state.offset = len(data)
        if not data.strip():
            ctx.warn(None, "empty file: no records")
            return
        try:
            obj = _decode(data)
        except RecordError as exc:
            ctx.warn(exc.line_in(data), str(exc))
            return
        except msgspec.DecodeError as exc:
            ctx.warn(_line_of_error(data, exc), f"not JSON ({exc})")
            return
        yield from self._spans(_Builder(file, state.extra, ctx.warn), obj, 1, ctx)

    @staticmethod
    def _spans(builder: _Builder, obj: Any, line: int, ctx: ImportContext) -> Iterator[ev.Event]:
        spans: list[OtlpSpan] = []
        for item in parse_document(obj):
            if isinstance(item, RecordError):
                ctx.warn(line, str(item))
            else:
                spans.append(item)
        yield from builder.document(spans, line)


def document_events(obj: Any, origin: str) -> tuple[list[ev.Event], list[str]]:
    """The events of one OTLP/JSON traces document received from ``origin`` (not a file:
    ``POST /v1/traces``), and the errors of the spans that could not be used. The ids are
    derived from trace and span ids, as for a file, so a document sent again adds nothing."""
    spans: list[OtlpSpan] = []
    errors: list[str] = []
    for item in parse_document(obj):
        if isinstance(item, RecordError):
            errors.append(str(item))
        else:
            spans.append(item)
    return list(_Builder(Path(origin), {}).document(spans, 1)), errors


def protobuf_document(data: bytes) -> dict[str, Any]:
    """An OTLP/protobuf ``ExportTraceServiceRequest`` in OTLP/JSON's form (hex ids, string
    64-bit integers), for ``parse_document``. Raises RecordError when it does not parse.
    opentelemetry-proto (the ``server`` extra) is imported here only."""
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(data)
    except (DecodeError, RecursionError) as exc:
        raise RecordError(f"not an OTLP/protobuf ExportTraceServiceRequest ({exc})") from None
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [_pb_key_value(kv) for kv in rs.resource.attributes]},
                "scopeSpans": [{"spans": [_pb_span(span) for span in scope.spans]} for scope in rs.scope_spans],
            }
            for rs in request.resource_spans
        ]
    }


def _pb_span(span: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "traceId": span.trace_id.hex(),
        "spanId": span.span_id.hex(),
        "name": span.name,
        "startTimeUnixNano": str(span.start_time_unix_nano),
        "endTimeUnixNano": str(span.end_time_unix_nano),
        "attributes": [_pb_key_value(kv) for kv in span.attributes],
        "status": {"code": span.status.code, "message": span.status.message},
    }
    if span.parent_span_id:
        out["parentSpanId"] = span.parent_span_id.hex()
    return out


def _pb_key_value(kv: Any) -> dict[str, Any]:
    return {"key": kv.key, "value": _pb_any_value(kv.value)}


def _pb_any_value(value: Any) -> dict[str, Any]:  # noqa: PLR0911 - one return per AnyValue variant
    which = value.WhichOneof("value")
    if which == "string_value":
        return {"stringValue": value.string_value}
    if which == "bool_value":
        return {"boolValue": value.bool_value}
    if which == "int_value":
        return {"intValue": str(value.int_value)}
    if which == "double_value":
        return {"doubleValue": value.double_value}
    if which == "array_value":
        return {"arrayValue": {"values": [_pb_any_value(v) for v in value.array_value.values]}}
    if which == "kvlist_value":
        return {"kvlistValue": {"values": [_pb_key_value(kv) for kv in value.kvlist_value.values]}}
    if which == "bytes_value":
        import base64

        return {"bytesValue": base64.b64encode(value.bytes_value).decode()}
    return {}
