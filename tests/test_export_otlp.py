"""``laptime export otlp`` (issue 12 line 3): GenAI semantic conventions, exact timing and
parents, laptime's figures under laptime.*, sending to an OTLP/HTTP receiver, and an
export imported again gives the same KPIs."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from helpers import (
    FIXED_RUN_ID,
    SONNET,
    T0,
    invoke,
    invoke_json,
    make_recorder,
    record_fixed_run,
    record_simple_run,
    record_unfinished,
)
from laptime.clock import SimulatedClock
from laptime.exporters.genai import trace_id_of
from laptime.store import Store

FIXTURES = Path(__file__).parent / "fixtures"


def _attrs(span: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for kv in span["attributes"]:
        ((kind, value),) = kv["value"].items()
        out[kv["key"]] = int(value) if kind == "intValue" else value
    return out


def _spans(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for r in document["resourceSpans"] for ss in r["scopeSpans"] for s in ss["spans"]]


def _export(store: Store, *args: str) -> dict[str, Any]:
    result = invoke(store.root, "export", "otlp", "-o", "-", *args)
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(result.output)
    return document


def _mixed_store(store: Store) -> list[str]:
    """Runs that exercise the mapping: the fixed run (phases, calls, validations, files,
    milestones, a checkpoint), a failed run, a blocked run, a running run with an open
    span, and a run with tasks, tools, git and an llm span with usage."""
    record_fixed_run(store)
    record_simple_run(store, "r-failed", start=T0 + timedelta(hours=1), outcome="failed")
    record_simple_run(store, "r-blocked", start=T0 + timedelta(hours=2), outcome="blocked", runner="ci")
    clock = SimulatedClock(start=T0 + timedelta(hours=3))
    with make_recorder(store, clock) as rec, rec.run("agents", run_id="r-agents", runner="aidf") as run:
        with run.task("worker-a", worker="w1"):
            with run.tool("grep"):
                clock.advance(2)
            with run.llm(SONNET, provider="anthropic") as call:
                clock.advance(3)
                call.usage({"input_tokens": 50, "output_tokens": 5, "cache_read_tokens": 400}, cost_usd=None)
            with run.git("commit"):
                clock.advance(1)
        run.metric("coverage", 87.5, unit="%")
        run.error("flaky network", error_type="TimeoutError")
    # a run whose process died: its phase and the run never end
    record_unfinished(store, "r-open", start=T0 + timedelta(hours=4))
    return [FIXED_RUN_ID, "r-failed", "r-blocked", "r-agents", "r-open"]


class TestConventions:
    def test_span_names_and_gen_ai_attributes(self, store: Store) -> None:
        _mixed_store(store)
        spans = _spans(_export(store, "--run", "r-agents"))
        by_name = {s["name"]: s for s in spans}
        assert set(by_name) == {
            "invoke_workflow",
            "invoke_agent worker-a",
            "execute_tool grep",
            f"chat {SONNET}",
            "commit",
        }
        root = by_name["invoke_workflow"]
        assert "parentSpanId" not in root
        assert _attrs(root)["gen_ai.operation.name"] == "invoke_workflow"
        assert _attrs(root)["gen_ai.workflow.name"] == "agents"
        agent = _attrs(by_name["invoke_agent worker-a"])
        assert (agent["gen_ai.operation.name"], agent["gen_ai.agent.name"]) == ("invoke_agent", "worker-a")
        tool = _attrs(by_name["execute_tool grep"])
        assert (tool["gen_ai.operation.name"], tool["gen_ai.tool.name"]) == ("execute_tool", "grep")
        chat = _attrs(by_name[f"chat {SONNET}"])
        assert chat["gen_ai.operation.name"] == "chat"
        assert chat["gen_ai.provider.name"] == "anthropic"
        assert chat["gen_ai.request.model"] == SONNET
        assert chat["gen_ai.usage.input_tokens"] == 450  # cache included, as the convention says
        assert chat["gen_ai.usage.output_tokens"] == 5
        assert chat["gen_ai.usage.cache_read.input_tokens"] == 400
        assert chat["gen_ai.usage.cache_creation.input_tokens"] == 0
        assert by_name[f"chat {SONNET}"]["kind"] == 3  # CLIENT
        assert _attrs(by_name["commit"])["laptime.kind"] == "git"

    def test_parents_and_timing_are_the_runs(self, store: Store) -> None:
        _mixed_store(store)
        document = _export(store, "--run", "r-agents")
        spans = _spans(document)
        ids = {s["spanId"] for s in spans}
        assert all(s["traceId"] == trace_id_of("r-agents") for s in spans)
        assert all(s.get("parentSpanId") in ids for s in spans if s["name"] != "invoke_workflow")
        by_name = {s["name"]: s for s in spans}
        agent = by_name["invoke_agent worker-a"]
        assert by_name["execute_tool grep"]["parentSpanId"] == agent["spanId"]
        t0 = int(by_name["invoke_workflow"]["startTimeUnixNano"])
        assert int(by_name["execute_tool grep"]["startTimeUnixNano"]) == t0
        assert int(by_name["execute_tool grep"]["endTimeUnixNano"]) - t0 == 2_000_000_000
        assert int(by_name[f"chat {SONNET}"]["endTimeUnixNano"]) - t0 == 5_000_000_000
        assert int(by_name["invoke_workflow"]["endTimeUnixNano"]) - t0 == 6_000_000_000
        events = {e["name"] for e in by_name["invoke_workflow"].get("events", [])}
        assert events == {"laptime.metric", "laptime.error"}

    def test_costs_and_outcomes_under_laptime(self, store: Store) -> None:
        run_ids = _mixed_store(store)
        spans = _spans(_export(store))
        roots = {_attrs(s)["laptime.run_id"]: s for s in spans if s["name"] == "invoke_workflow"}
        assert set(roots) == set(run_ids)
        for run_id, root in roots.items():
            report = invoke_json(store.root, "report", run_id, "--json")
            attrs = _attrs(root)
            assert attrs["laptime.cost_usd"] == pytest.approx(report["cost_usd"], rel=1e-12)
            assert attrs["laptime.cost_source"] == report["cost_source"]
            if run_id == "r-open":
                assert "laptime.outcome" not in attrs  # no end yet; the report calls it running or crashed
            else:
                assert attrs["laptime.outcome"] == report["outcome"]
        assert roots["r-failed"]["status"]["code"] == 2
        assert _attrs(roots["r-blocked"])["laptime.outcome"] == "blocked"
        assert "status" not in roots["r-blocked"]  # neither OK nor ERROR
        assert roots["r-open"]["endTimeUnixNano"] == "0"  # still open
        calls = [s for s in spans if s["name"].startswith("chat ") and _attrs(s)["laptime.run_id"] == FIXED_RUN_ID]
        assert len(calls) == 4  # llm_call() without a span of its own: one span each, marked untimed
        assert all(_attrs(c)["laptime.untimed"] is True for c in calls)
        fixed = invoke_json(store.root, "report", FIXED_RUN_ID, "--json")
        assert sum(_attrs(c)["laptime.cost_usd"] for c in calls) == pytest.approx(fixed["cost_usd"], rel=1e-9)


class TestRoundTrip:
    @pytest.mark.parametrize("view", [("report", "{run}", "--json"), ("report", "show", "{run}", "--json")])
    def test_export_then_import_gives_the_same_report(
        self, store: Store, tmp_path: Path, view: tuple[str, ...]
    ) -> None:
        run_ids = _mixed_store(store)
        exported = tmp_path / "runs.otlp.json"
        assert invoke(store.root, "export", "otlp", "-o", str(exported)).exit_code == 0
        other = Store(tmp_path / "again" / ".laptime")
        result = invoke(other.root, "import", "otlp", str(exported))
        assert result.exit_code == 0, result.output
        for run_id in run_ids:
            if run_id == "r-open" and view[1] != "show":
                continue  # a running run's duration grows with the clock between the two reads
            args = [a.format(run=run_id) for a in view]
            before, after = invoke_json(store.root, *args), invoke_json(other.root, *args)
            if view[1] == "show":
                for span in [*before["spans"], *after["spans"]]:
                    span.pop("duration_ms", None) if span.get("outcome") == "running" else None
                before.pop("total_duration_ms"), after.pop("total_duration_ms")
            assert after == before, run_id
        assert invoke_json(other.root, "report", "summary", "--json") == invoke_json(
            store.root, "report", "summary", "--json"
        )

    def test_an_imported_claude_code_session_round_trips(self, store: Store, tmp_path: Path) -> None:
        tree = tmp_path / "projects"
        shutil.copytree(FIXTURES / "cross-view" / "claude-code", tree)
        assert invoke(store.root, "import", "claude-code", str(tree)).exit_code == 0
        exported = tmp_path / "cc.otlp.json"
        assert invoke(store.root, "export", "otlp", "-o", str(exported)).exit_code == 0
        other = Store(tmp_path / "again" / ".laptime")
        assert invoke(other.root, "import", "otlp", str(exported)).exit_code == 0
        for args in (("report", "summary", "--json"), ("report", "usage", "--by", "session", "--json")):
            assert invoke_json(other.root, *args) == invoke_json(store.root, *args)

    def test_a_damaged_laptime_span_is_a_warning_and_the_rest_imports(self, store: Store, tmp_path: Path) -> None:
        _mixed_store(store)
        document = _export(store, "--run", "r-agents")
        for span in _spans(document):
            if span["name"] == "execute_tool grep":
                for kv in span["attributes"]:
                    if kv["key"] == "laptime.attrs":
                        kv["value"] = {"stringValue": "{not json"}
                span["attributes"].append({"key": "laptime.attrs", "value": {"stringValue": "{not json"}})
        path = tmp_path / "bad.json"
        path.write_text(json.dumps(document))
        other = Store(tmp_path / "again" / ".laptime")
        result = invoke(other.root, "import", "otlp", str(path))
        assert "span 'execute_tool grep': laptime.attrs is not JSON; span skipped" in result.output
        show = invoke_json(other.root, "report", "show", "r-agents", "--json")
        assert sorted(s["name"] for s in show["spans"]) == [SONNET, "commit", "worker-a"]  # grep is gone


class _Collector:
    def __init__(self) -> None:
        self.posts: list[tuple[str, dict[str, str], bytes]] = []
        self.status = 200


@pytest.fixture
def collector() -> Iterator[tuple[_Collector, int]]:
    state = _Collector()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.posts.append((self.path, dict(self.headers.items()), body))
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield state, server.server_address[1]
    server.shutdown()
    server.server_close()


class TestSend:
    def test_posts_otlp_json_to_v1_traces(self, store: Store, collector: tuple[_Collector, int]) -> None:
        state, port = collector
        _mixed_store(store)
        result = invoke(
            store.root,
            "export",
            "otlp",
            "--endpoint",
            f"http://127.0.0.1:{port}",
            "--run",
            "r-agents",
            "--header",
            "x-api-key=k1",
            "--resource",
            "openinference.project.name=laptime-test",
            "--protocol",
            "http/json",
            "--json",
        )
        assert result.exit_code == 0, result.output
        assert json.loads(result.output) == {
            "runs": 1,
            "spans": 5,
            "requests": 1,
            "endpoint": f"http://127.0.0.1:{port}/v1/traces",
            "file": None,
        }
        ((path, headers, body),) = state.posts
        assert path == "/v1/traces"
        assert headers["Content-Type"] == "application/json"
        assert headers["x-api-key"] == "k1"
        resource = json.loads(body)["resourceSpans"][0]["resource"]
        assert {"key": "openinference.project.name", "value": {"stringValue": "laptime-test"}} in resource["attributes"]

    def test_protobuf_by_default(self, store: Store, collector: tuple[_Collector, int]) -> None:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        state, port = collector
        _mixed_store(store)
        assert (
            invoke(
                store.root, "export", "otlp", "--endpoint", f"http://127.0.0.1:{port}", "--run", "r-agents"
            ).exit_code
            == 0
        )
        ((path, headers, body),) = state.posts
        assert (path, headers["Content-Type"]) == ("/v1/traces", "application/x-protobuf")
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        sent = [s for r in request.resource_spans for ss in r.scope_spans for s in ss.spans]
        as_json = _spans(_export(store, "--run", "r-agents"))
        assert [(s.name, s.span_id.hex(), s.start_time_unix_nano) for s in sent] == [
            (s["name"], s["spanId"], int(s["startTimeUnixNano"])) for s in as_json
        ]

    def test_a_refusing_receiver_is_exit_1_naming_it(self, store: Store, collector: tuple[_Collector, int]) -> None:
        state, port = collector
        state.status = 400
        record_simple_run(store, "r1")
        result = invoke(store.root, "export", "otlp", "--endpoint", f"http://127.0.0.1:{port}/v1/traces?token=zz")
        assert result.exit_code == 1
        assert result.output == f"Error: http://127.0.0.1:{port}/v1/traces answered HTTP 400: {{}}\n"

    def test_an_unreachable_receiver_is_exit_1(self, store: Store) -> None:
        record_simple_run(store, "r1")
        result = invoke(store.root, "export", "otlp", "--endpoint", "http://127.0.0.1:9")
        assert result.exit_code == 1
        assert result.output.startswith("Error: could not reach http://127.0.0.1:9/v1/traces:")

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            ((), "give --endpoint URL (or set OTEL_EXPORTER_OTLP_ENDPOINT) or -o FILE, not both"),
            (
                (
                    "--endpoint",
                    "ftp://x",
                ),
                "--endpoint: 'ftp://x' is not an http:// or https:// URL",
            ),
            (("-o", "-", "--run", "r1", "--since", "1d"), "--run picks runs itself"),
            (("--endpoint", "http://h", "--header", "nokey"), "--header: 'nokey' must be KEY=VALUE"),
            (("-o", "-", "--run", "nope"), "no run matches 'nope'"),
        ],
    )
    def test_usage_errors_exit_2(self, store: Store, args: tuple[str, ...], message: str) -> None:
        record_simple_run(store, "r1")
        result = invoke(store.root, "export", "otlp", *args)
        assert result.exit_code == 2, result.output
        assert message in result.output
