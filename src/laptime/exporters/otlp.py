"""Runs as OTLP traces: one ``ExportTraceServiceRequest`` in OTLP/JSON, a trace per run.

The mapping of names and attributes is ``exporters.genai``. Timing is exact (laptime
keeps microseconds; OTLP nanoseconds). Ids: the trace id is the run's (``trace_id_of``),
span ids are hashes of laptime's span ids, so exporting twice gives the same ids and a
receiver de-duplicates. A span still open has no end time (0). An LLM call recorded
without a span of its own (``run.llm_call``) becomes a ``chat {model}`` span of its
latency (0 when unknown) ending at the call, marked ``laptime.untimed``. Point events
(validations, checkpoints, ...) become span events on the span they happened in.
Costs come from the cost engine (``analysis.cost.priced_calls``), as in every view.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from laptime import __version__
from laptime import events as ev
from laptime.clock import parse_timestamp_us
from laptime.exporters import genai

if TYPE_CHECKING:
    from laptime.analysis.cost import PricedCall
    from laptime.index import Index
    from laptime.pricing import PriceBook

SPAN_KIND_INTERNAL: Final = 1
SPAN_KIND_CLIENT: Final = 3
STATUS_OK: Final = 1
STATUS_ERROR: Final = 2
SCOPE_NAME: Final = "laptime"


def any_value(value: Any) -> dict[str, Any]:
    """One attribute value in OTLP/JSON (int64 as a string, as the proto3 JSON mapping says)."""
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    return {"stringValue": str(value)}


def key_values(attrs: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [{"key": key, "value": any_value(value)} for key, value in attrs.items() if value is not None]


@dataclass
class _Span:
    start: ev.SpanStart
    end: ev.SpanEnd | None = None
    usage: ev.LlmUsage | None = None
    points: list[ev.Event] = field(default_factory=list)


@dataclass(frozen=True)
class OtlpSpanOut:
    """One span to export, in laptime's terms (the live exporter uses the same)."""

    name: str
    trace_id: str
    span_id: str
    parent_span_id: str | None
    start_ns: int
    end_ns: int | None
    kind: int
    attributes: dict[str, Any]
    error: str | None
    outcome: str | None
    events: list[tuple[str, int, dict[str, Any]]]


def _ns(ts: str) -> int:
    return parse_timestamp_us(ts) * 1000


def run_spans(events: Iterable[ev.Event], costs: Mapping[str, PricedCall]) -> Iterator[OtlpSpanOut]:
    """The OTLP spans of one run's events; ``costs``: call event id -> its priced cost."""
    spans: dict[str, _Span] = {}
    untimed: list[ev.LlmUsage] = []
    points: list[ev.Event] = []
    for event in events:
        if isinstance(event, ev.SpanStart):
            spans.setdefault(event.span, _Span(event)).start = event
        elif isinstance(event, ev.SpanEnd):
            if event.span in spans:
                spans[event.span].end = event
        elif isinstance(event, ev.LlmUsage):
            owner = spans.get(event.span) if event.span else None
            if owner is not None and owner.usage is None and owner.start.kind == "llm":
                owner.usage = event
            else:
                untimed.append(event)
        else:
            points.append(event)
    run_span = next((s for s in spans.values() if s.start.kind == "run"), None)
    for point in points:
        owner = spans.get(point.parent or "") or run_span
        if owner is not None:
            owner.points.append(point)
    for span in spans.values():
        yield _span_out(span, spans, costs)
    for usage in untimed:
        yield _untimed_out(usage, spans, costs)


def _parent_span_id(parent: str | None, spans: Mapping[str, _Span]) -> str | None:
    return genai.span_id_of(parent) if parent is not None and parent in spans else None


def _cost(usage: ev.LlmUsage, costs: Mapping[str, PricedCall]) -> tuple[float | None, str]:
    priced = costs.get(usage.id)
    return (priced.cost_usd, priced.cost_source) if priced is not None else (usage.cost_usd, "unpriced")


def _span_out(span: _Span, spans: Mapping[str, _Span], costs: Mapping[str, PricedCall]) -> OtlpSpanOut:
    start, end = span.start, span.end
    attrs = genai.span_attributes(start, end)
    if span.usage is not None:
        attrs.update(genai.usage_attributes(span.usage, *_cost(span.usage, costs)))
        attrs["gen_ai.request.model"] = start.name
    return OtlpSpanOut(
        name=genai.span_name(start.kind, start.name),
        trace_id=genai.trace_id_of(start.run),
        span_id=genai.span_id_of(start.span),
        parent_span_id=_parent_span_id(start.parent, spans),
        start_ns=_ns(start.ts),
        end_ns=_ns(end.ts) if end is not None else None,
        kind=SPAN_KIND_CLIENT if start.kind == "llm" else SPAN_KIND_INTERNAL,
        attributes=attrs,
        error=end.error if end is not None else None,
        outcome=end.outcome if end is not None else None,
        events=[(genai.point_event_name(p), _ns(p.ts), genai.point_event_attributes(p)) for p in span.points],
    )


def _untimed_out(usage: ev.LlmUsage, spans: Mapping[str, _Span], costs: Mapping[str, PricedCall]) -> OtlpSpanOut:
    end_ns = _ns(usage.ts)
    start_ns = end_ns - int((usage.latency_ms or 0) * 1e6)
    attrs = {
        "laptime.kind": "llm",
        "laptime.untimed": True,
        "laptime.run_id": usage.run,
        **genai.usage_attributes(usage, *_cost(usage, costs)),
    }
    return OtlpSpanOut(
        name=genai.span_name("llm", usage.model),
        trace_id=genai.trace_id_of(usage.run),
        span_id=genai.span_id_of(usage.id),
        parent_span_id=_parent_span_id(usage.parent, spans) or _parent_span_id(usage.run, spans),
        start_ns=max(start_ns, 0),
        end_ns=end_ns,
        kind=SPAN_KIND_CLIENT,
        attributes=attrs,
        error=None,
        outcome="completed",
        events=[],
    )


def span_json(span: OtlpSpanOut) -> dict[str, Any]:
    out: dict[str, Any] = {
        "traceId": span.trace_id,
        "spanId": span.span_id,
        "name": span.name,
        "kind": span.kind,
        "startTimeUnixNano": str(span.start_ns),
        "endTimeUnixNano": str(span.end_ns or 0),
        "attributes": key_values(span.attributes),
    }
    if span.parent_span_id is not None:
        out["parentSpanId"] = span.parent_span_id
    if span.events:
        out["events"] = [
            {"timeUnixNano": str(at), "name": name, "attributes": key_values(attrs)} for name, at, attrs in span.events
        ]
    if span.outcome in ("failed", "crashed"):
        out["status"] = {"code": STATUS_ERROR, "message": span.error or span.outcome}
    elif span.outcome == "completed":
        out["status"] = {"code": STATUS_OK}
    return out


def otlp_document(
    index: Index, book: PriceBook, run_ids: Iterable[str], *, resource: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The runs as one OTLP/JSON ``ExportTraceServiceRequest``."""
    from laptime.analysis.cost import cost_source, priced_calls, run_costs

    ids = list(run_ids)
    run_cost = run_costs(index, book, ids)
    spans: list[dict[str, Any]] = []
    for run_id in ids:
        costs = {call.event_id: call for call in priced_calls(index, book, run_id)}
        cost = run_cost.get(run_id)
        for span in run_spans(index.run_events(run_id), costs):
            if span.attributes.get("laptime.kind") == "run" and not span.attributes.get("laptime.untimed"):
                # the run's own cost, as every view gives it ($0 for a run without calls)
                span.attributes["laptime.cost_usd"] = cost.cost_usd if cost is not None else 0.0
                span.attributes["laptime.cost_source"] = cost.source if cost is not None else cost_source(0, 0, 0)
            spans.append(span_json(span))
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": key_values({"service.name": "laptime", **(resource or {})})},
                "scopeSpans": [{"scope": {"name": SCOPE_NAME, "version": __version__}, "spans": spans}],
            }
        ]
    }
