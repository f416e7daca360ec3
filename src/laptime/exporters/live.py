"""Live OTLP export from the SDK (the ``laptime[otel]`` extra): each span goes to an
OpenTelemetry receiver as the run records, next to the log.

Turned on by ``LAPTIME_OTEL=1`` (or ``Recorder(otel=True)``); the receiver is the
OpenTelemetry SDK's usual ``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``
(and ``..._HEADERS``), over OTLP/HTTP protobuf. Spans carry the names, attributes and
ids of ``laptime export otlp`` (``exporters.genai``), so the two ways give a receiver the
same trace. Spans are batched and sent by the OpenTelemetry SDK's background thread
(BatchSpanProcessor), so the program never waits on the network; at exit the SDK sends
what is left, bounded by ``EXPORT_TIMEOUT_S``. Anything that goes wrong (the extra
missing, a bad endpoint, a receiver that is down) is one warning; the log is unaffected.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from laptime import events as ev
from laptime.clock import parse_timestamp_us
from laptime.definitions import cache_write_1h
from laptime.exporters import genai

if TYPE_CHECKING:
    from laptime.pricing import PriceBook

ENV: Final = "LAPTIME_OTEL"
EXPORT_TIMEOUT_S: Final = 5.0
INSTALL_HINT: Final = "pip install 'laptime[otel]'"


class _NextIds(threading.local):
    trace_id: int | None = None
    span_id: int | None = None


class LiveExporter:
    """Turns the recorder's event lines into OpenTelemetry spans as they are written."""

    def __init__(self, warn: Callable[[str], None], book: Callable[[], PriceBook | None]) -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator

        next_ids = self._next = _NextIds()
        random_ids = RandomIdGenerator()

        class _LaptimeIds(IdGenerator):
            """The ids ``laptime export otlp`` gives the same spans (set just before each
            span starts), so the two ways of exporting agree."""

            def generate_span_id(self) -> int:
                chosen, next_ids.span_id = next_ids.span_id, None
                return chosen if chosen is not None else random_ids.generate_span_id()

            def generate_trace_id(self) -> int:
                chosen, next_ids.trace_id = next_ids.trace_id, None
                return chosen if chosen is not None else random_ids.generate_trace_id()

        self._warn = warn
        self._book_factory = book
        self._book: PriceBook | None = None
        self._book_made = False
        resource = Resource.create({"service.name": "laptime"})
        self.provider = TracerProvider(resource=resource, id_generator=_LaptimeIds())
        exporter = _Quiet(OTLPSpanExporter(timeout=EXPORT_TIMEOUT_S), warn)
        self.provider.add_span_processor(BatchSpanProcessor(exporter))
        self._tracer = self.provider.get_tracer("laptime")
        self._open: dict[str, tuple[Any, ev.SpanStart]] = {}
        self._lock = threading.Lock()

    # -- the tee on the recorder's log writer -----------------------------------------------

    def on_line(self, line: bytes) -> None:
        try:
            self.on_event(ev.decode(line))
        except Exception as exc:  # noqa: BLE001 - the live export must never break the program
            self._warn(f"live OTLP export: {exc}")

    def on_event(self, event: ev.Event) -> None:
        with self._lock:
            if isinstance(event, ev.SpanStart):
                self._start(event)
            elif isinstance(event, ev.SpanEnd):
                self._end(event)
            elif isinstance(event, ev.Span):  # a compacted span: start and end at once
                self._start(ev.SpanStart(**_start_fields(event)))
                self._end(ev.SpanEnd(**_end_fields(event)))
            elif isinstance(event, ev.LlmUsage):
                self._usage(event)
            else:
                owner = self._open.get(event.parent or "") or self._open.get(event.run)
                if owner is not None:
                    attrs = genai.point_event_attributes(event)
                    owner[0].add_event(genai.point_event_name(event), attributes=attrs, timestamp=_ns(event.ts))

    def shutdown(self) -> None:
        try:
            self.provider.shutdown()
        except Exception as exc:  # noqa: BLE001 - the live export must never break the program
            self._warn(f"live OTLP export: {exc}")

    # -- spans -------------------------------------------------------------------------------

    def _start(self, start: ev.SpanStart) -> None:
        from opentelemetry import trace

        parent = self._open.get(start.parent or "") if start.kind != "run" else None
        context = trace.set_span_in_context(parent[0]) if parent is not None else None
        if parent is None:
            self._next.trace_id = int(genai.trace_id_of(start.run), 16)
        self._next.span_id = int(genai.span_id_of(start.span), 16)
        span = self._tracer.start_span(
            genai.span_name(start.kind, start.name),
            context=context,
            kind=trace.SpanKind.CLIENT if start.kind == "llm" else trace.SpanKind.INTERNAL,
            attributes=genai.span_attributes(start, None),
            start_time=_ns(start.ts),
        )
        self._open[start.span] = (span, start)

    def _end(self, end: ev.SpanEnd) -> None:
        from opentelemetry.trace import Status, StatusCode

        found = self._open.pop(end.span, None)
        if found is None:
            return
        span, start = found
        span.set_attributes(genai.span_attributes(start, end))
        if end.outcome in ("failed", "crashed"):
            span.set_status(Status(StatusCode.ERROR, end.error or end.outcome))
        elif end.outcome == "completed":
            span.set_status(Status(StatusCode.OK))
        span.end(end_time=_ns(end.ts))

    def _usage(self, usage: ev.LlmUsage) -> None:
        cost, source = self._cost(usage)
        attrs = genai.usage_attributes(usage, cost, source)
        owner = self._open.get(usage.span or "")
        if owner is not None and owner[1].kind == "llm":
            owner[0].set_attributes(attrs)
            return
        # a call without a span of its own: a span of its latency, ending now
        from opentelemetry import trace

        parent = self._open.get(usage.parent or "") or self._open.get(usage.run)
        end_ns = _ns(usage.ts)
        self._next.span_id = int(genai.span_id_of(usage.id), 16)
        span = self._tracer.start_span(
            genai.span_name("llm", usage.model),
            context=trace.set_span_in_context(parent[0]) if parent is not None else None,
            kind=trace.SpanKind.CLIENT,
            attributes={"laptime.kind": "llm", "laptime.untimed": True, "laptime.run_id": usage.run, **attrs},
            start_time=end_ns - int((usage.latency_ms or 0) * 1e6),
        )
        span.end(end_time=end_ns)

    def _cost(self, usage: ev.LlmUsage) -> tuple[float | None, str]:
        if not self._book_made:  # once: reading the config and the price table is not free
            self._book, self._book_made = self._book_factory(), True
        book = self._book
        if book is None:
            return usage.cost_usd, "reported" if usage.cost_usd is not None else "unpriced"
        from laptime.pricing import SOURCE_UNPRICED

        try:
            priced = book.call_cost(
                usage.model,
                usage.provider,
                parse_timestamp_us(usage.ts),
                usage.input_tokens,
                usage.output_tokens,
                usage.cache_read_tokens,
                usage.cache_write_tokens,
                usage.input_includes_cache,
                cache_write_1h(usage.attrs, usage.cache_write_tokens),
                reported_cost_usd=usage.cost_usd,
            )
        except Exception:  # noqa: BLE001 - an unpriced call is still exported
            return usage.cost_usd, SOURCE_UNPRICED
        return priced.cost_usd, priced.source


def _Quiet(inner: Any, warn: Callable[[str], None]) -> Any:  # noqa: N802 - builds a class lazily
    """``inner`` (an OTLP span exporter) whose failures are one warning from laptime, not a
    log line per failed batch from the OpenTelemetry SDK."""
    import logging

    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    logging.getLogger("opentelemetry.exporter.otlp").setLevel(logging.CRITICAL)

    class Quiet(SpanExporter):
        warned = False

        def export(self, spans: Any) -> SpanExportResult:
            try:
                result: SpanExportResult = inner.export(spans)
            except Exception:  # noqa: BLE001 - the live export must never break the program
                result = SpanExportResult.FAILURE
            if result is not SpanExportResult.SUCCESS and not self.warned:
                self.warned = True
                warn(
                    f"live OTLP export to {getattr(inner, '_endpoint', 'the OTLP endpoint')} failed; "
                    "the run is in the log all the same (`laptime export otlp` sends it later)"
                )
            return result

        def shutdown(self) -> None:
            inner.shutdown()

        def force_flush(self, timeout_millis: int = 30_000) -> bool:
            return bool(inner.force_flush(timeout_millis))

    return Quiet()


def _ns(ts: str) -> int:
    return parse_timestamp_us(ts) * 1000


def _start_fields(span: ev.Span) -> dict[str, Any]:
    return {
        "v": span.v,
        "id": span.id,
        "ts": span.ts,
        "run": span.run,
        "parent": span.parent,
        "attrs": span.attrs,
        "span": span.span,
        "kind": span.kind,
        "name": span.name,
    }


def _end_fields(span: ev.Span) -> dict[str, Any]:
    return {
        "v": span.v,
        "id": span.end_id,
        "ts": span.end_ts,
        "run": span.run,
        "attrs": span.end_attrs,
        "span": span.span,
        "outcome": span.outcome,
        "error": span.error,
    }


def start(warn: Callable[[str], None], book: Callable[[], PriceBook | None]) -> LiveExporter | None:
    """A live exporter, or None (with one warning) when the extra is not installed."""
    try:
        return LiveExporter(warn, book)
    except ImportError as exc:
        warn(f"LAPTIME_OTEL is set, but live OTLP export needs the otel extra ({exc.name} is missing): {INSTALL_HINT}")
        return None
