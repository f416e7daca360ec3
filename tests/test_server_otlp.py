"""``POST /v1/traces``: real OpenTelemetry SDK exports (OTLP/HTTP protobuf) and an OTLP/JSON post,
read back as runs. Claude Code's spans give human wait against agent time."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, ClassVar

import pytest

from helpers import invoke_json
from laptime.store import Store
from server_helpers import Live, live_server

T0_NS = int(datetime(2026, 1, 5, 9, 0, 0, tzinfo=UTC).timestamp()) * 1_000_000_000
S = 1_000_000_000


@pytest.fixture(name="live")
def _live(store: Store) -> Iterator[Live]:
    with live_server(store) as live:
        yield live


def _claude_code_spans() -> tuple[list[object], str]:
    """A Claude Code prompt as its telemetry traces it, on explicit times (seconds from T0):
    interaction 0-10; llm_request 0-3 (100 in, 50 out, 1000 cache read, 10 cache write);
    tool 3-9 holding blocked_on_user 3-7 and execution 7-9."""
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "claude-code"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("com.anthropic.claude_code")

    def span(name: str, parent: object | None, start: float, end: float, **attrs: object) -> object:
        context = trace.set_span_in_context(parent) if parent is not None else None  # type: ignore[arg-type]
        s = tracer.start_span(name, context=context, start_time=T0_NS + int(start * S), attributes=attrs)  # type: ignore[arg-type]
        s.end(end_time=T0_NS + int(end * S))
        return s

    root = tracer.start_span("claude_code.interaction", start_time=T0_NS, attributes={"user_prompt_length": 12})
    parent = root
    span(
        "claude_code.llm_request",
        parent,
        0,
        3,
        model="claude-sonnet-4-5",
        input_tokens=100,
        output_tokens=50,
        cache_read_tokens=1000,
        cache_creation_tokens=10,
    )
    tool = tracer.start_span(
        "claude_code.tool",
        context=trace.set_span_in_context(root),
        start_time=T0_NS + 3 * S,
        attributes={"tool_name": "Bash"},
    )
    span("claude_code.tool.blocked_on_user", tool, 3, 7, decision="accept")
    span("claude_code.tool.execution", tool, 7, 9, success=True)
    tool.end(end_time=T0_NS + 9 * S)
    root.end(end_time=T0_NS + 10 * S)
    spans = list(memory.get_finished_spans())
    return spans, format(root.get_span_context().trace_id, "032x")


class TestOtlpProtobuf:
    def test_a_real_sdk_export_becomes_a_run_with_human_wait(self, live: Live, store: Store) -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace.export import SpanExportResult

        spans, trace_id = _claude_code_spans()
        exporter = OTLPSpanExporter(endpoint=f"{live.url}/v1/traces")
        assert exporter.export(spans[:2]) is SpanExportResult.SUCCESS  # two exports, as a batch processor may
        assert exporter.export(spans[2:]) is SpanExportResult.SUCCESS
        lines = sum(len(p.read_bytes().splitlines()) for p in store.segments())
        assert exporter.export(spans) is SpanExportResult.SUCCESS  # everything again: nothing new
        assert sum(len(p.read_bytes().splitlines()) for p in store.segments()) == lines
        exporter.shutdown()

        run = live.get(f"/runs/{trace_id}").json()
        assert run["total_duration_ms"] == 10_000
        split = run["time_split"]
        assert (split["llm_ms"], split["human_wait_ms"], split["tool_ms"], split["other_ms"]) == (
            3000,
            4000,
            2000,
            1000,
        )
        assert run["tokens"]["input_tokens"] == 100
        assert run["tokens"]["cache_read_tokens"] == 1000
        assert run["tokens"]["cache_write_tokens"] == 10
        assert run["tokens"]["output_tokens"] == 50
        assert run == invoke_json(store.root, "report", "show", trace_id)

    def test_a_body_that_is_not_protobuf_is_a_400(self, live: Live) -> None:
        reply = live.request("POST", "/v1/traces", b"\xff\xff\xff", {"Content-Type": "application/x-protobuf"})
        assert reply.status == 400
        assert reply.json()["error"].startswith("not an OTLP/protobuf ExportTraceServiceRequest")


class TestOtlpJson:
    DOC: ClassVar[dict[str, Any]] = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "agent"}}]},
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": "ab" * 16,
                                "spanId": "01" * 8,
                                "name": "invoke_agent fixer",
                                "startTimeUnixNano": str(T0_NS),
                                "endTimeUnixNano": str(T0_NS + 5 * S),
                            },
                            {
                                "traceId": "ab" * 16,
                                "spanId": "02" * 8,
                                "parentSpanId": "01" * 8,
                                "name": "chat gpt-4o",
                                "startTimeUnixNano": str(T0_NS + S),
                                "endTimeUnixNano": str(T0_NS + 3 * S),
                                "attributes": [
                                    {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                                    {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "40"}},
                                ],
                            },
                        ]
                    }
                ],
            }
        ]
    }

    def test_a_json_post_is_mapped_and_idempotent(self, live: Live, store: Store) -> None:
        first = live.request("POST", "/v1/traces", self.DOC)
        lines = sum(len(p.read_bytes().splitlines()) for p in store.segments())
        again = live.request("POST", "/v1/traces", self.DOC)
        assert (first.status, first.json()) == (200, {})
        assert (again.status, again.json()) == (200, {})
        assert sum(len(p.read_bytes().splitlines()) for p in store.segments()) == lines
        run = live.get(f"/runs/{'ab' * 16}").json()
        assert run["total_duration_ms"] == 5000
        assert run["time_split"]["llm_ms"] == 2000
        assert run["tokens"]["input_tokens"] == 40

    def test_bad_spans_are_reported_as_partial_success(self, live: Live) -> None:
        doc = json.loads(json.dumps(self.DOC))
        doc["resourceSpans"][0]["scopeSpans"][0]["spans"].append({"traceId": "zz", "spanId": "03" * 8, "name": "x"})
        reply = live.request("POST", "/v1/traces", doc)
        assert reply.status == 200
        partial = reply.json()["partialSuccess"]
        assert partial["rejectedSpans"] == "1"
        assert "traceId 'zz' is not 32 hex digits" in partial["errorMessage"]

    def test_nothing_usable_is_a_400(self, live: Live) -> None:
        reply = live.request("POST", "/v1/traces", {"resourceSpans": "no"})
        assert reply.status == 400
        assert "resourceSpans" in reply.json()["error"]
        assert live.request("POST", "/v1/traces", b"x", {"Content-Type": "text/plain"}).status == 415
