"""`laptime import otlp`: GenAI spans to runs, spans and usage; idempotency, growth, bad input, fuzzing."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import given, settings
from hypothesis import strategies as st

from laptime import events as ev
from laptime.cli import cli
from laptime.importers.otlp import OtlpImporter, OtlpSpan, RecordError, _Builder, parse_document, parse_span
from laptime.index import Index
from laptime.store import Store

FIXTURES = Path(__file__).parent.parent / "fixtures" / "otlp"
TRACE = FIXTURES / "trace.json"
BATCHES = FIXTURES / "batches.jsonl"
TRACE_ID = "5b8efff798038103d269b633813fc60c"
TRACE2_ID = "0af7651916cd43dd8448eb211c80319c"


def laptime(store: Store, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--home", str(store.root), *args], catch_exceptions=False)


def import_json(store: Store, *paths: Path | str) -> tuple[int, dict[str, Any]]:
    result = laptime(store, "import", "otlp", *map(str, paths), "--json")
    return result.exit_code, json.loads(result.stdout)["imports"][0]


def log_bytes(store: Store) -> bytes:
    return b"".join(p.read_bytes() for p in store.segments())


def log_events(store: Store) -> list[ev.Event]:
    return [ev.decode(line) for line in log_bytes(store).splitlines() if line]


def test_trace_becomes_a_run_with_spans_and_usage(store: Store) -> None:
    code, summary = import_json(store, TRACE)
    assert code == 0
    assert summary["skipped_records"] == 0
    shown = laptime(store, "report", "show", TRACE_ID, "--json")
    assert shown.exit_code == 0, shown.output
    detail = json.loads(shown.stdout)
    assert detail["run_id"] == TRACE_ID
    assert detail["outcome"] == "completed"
    assert detail["total_duration_ms"] == 300_000
    spans = {s["name"]: (s["kind"], s["outcome"], s["duration_ms"]) for s in detail["spans"]}
    assert spans == {
        "invoke_workflow fix-login": ("phase", "completed", 300_000),
        "invoke_agent coder": ("task", "completed", 280_000),
        "chat claude-sonnet-4-5": ("llm", "completed", 12_000),
        "execute_tool run_tests": ("tool", "failed", 60_000),
        "chat gpt-4o": ("llm", "completed", 5_000),
    }
    usage = {e.model: e for e in log_events(store) if isinstance(e, ev.LlmUsage)}
    sonnet = usage["claude-sonnet-4-5-20250929"]  # the response model wins over the request model
    assert (sonnet.provider, sonnet.input_tokens, sonnet.output_tokens) == ("anthropic", 12_000, 800)
    assert (sonnet.cache_read_tokens, sonnet.cache_write_tokens) == (9_000, 1_000)
    assert sonnet.input_includes_cache is True
    assert sonnet.cost_usd == pytest.approx(0.0421)
    assert sonnet.latency_ms == pytest.approx(12_000)
    assert sonnet.worker == "coder"
    assert usage["gpt-4o"].provider == "openai"
    assert usage["gpt-4o"].cost_usd is None
    failed = next(e for e in log_events(store) if isinstance(e, ev.SpanEnd) and e.outcome == "failed")
    assert failed.error == "ToolError: 3 tests failed"
    with Index(store) as index:
        index.update()
        attrs = json.loads(index.query("SELECT attrs FROM runs WHERE run_id = ?", (TRACE_ID,))[0][0])
    assert attrs["gen_ai.conversation.id"] == "conv-42"
    assert attrs["service.name"] == "agent-runner"
    assert attrs["runner"] == "otlp"


def test_reimport_adds_nothing(store: Store) -> None:
    assert import_json(store, TRACE, BATCHES)[0] == 0
    before = log_bytes(store)
    code, summary = import_json(store, TRACE, BATCHES)
    assert (code, summary["events_new"], summary["files_unchanged"]) == (0, 0, 2)
    (store.root / "imports.sqlite").unlink()
    code, summary = import_json(store, FIXTURES)
    assert (code, summary["events_new"]) == (0, 0)
    assert log_bytes(store) == before


def test_grown_jsonl_adds_only_its_new_part(store: Store, tmp_path: Path) -> None:
    first, second = BATCHES.read_bytes().splitlines(keepends=True)
    source = tmp_path / "traces.jsonl"
    source.write_bytes(first)
    code, one = import_json(store, source)
    assert code == 0
    assert one["records"] == 1
    with source.open("ab") as handle:
        handle.write(second)
    code, two = import_json(store, source)
    assert code == 0
    assert two["records"] == 1  # only the new line was read
    assert two["events_already_stored"] == 0
    whole = Store(tmp_path / "whole" / ".laptime")
    import_json(whole, BATCHES)
    assert sorted(e.id for e in log_events(store)) == sorted(e.id for e in log_events(whole))
    # Children came before their root: the run starts with the first span seen (5 s in)
    # and ends with the root (60 s), as a one-shot import of the same file does.
    for target in (store, whole):
        with Index(target) as index:
            index.update()
            row = index.query("SELECT name, outcome, ended_us - started_us FROM runs WHERE run_id = ?", (TRACE2_ID,))
        assert row == [("chat claude-haiku-4-5", "completed", 55_000_000)]


def test_rewritten_document_adds_only_new_spans(store: Store, tmp_path: Path) -> None:
    doc = json.loads(TRACE.read_text())
    spans = doc["resourceSpans"][0]["scopeSpans"][0]["spans"]
    source = tmp_path / "trace.json"
    doc["resourceSpans"][0]["scopeSpans"][0]["spans"] = spans[:3]
    source.write_text(json.dumps(doc, indent=2))
    code, _ = import_json(store, source)
    assert code == 0
    doc["resourceSpans"][0]["scopeSpans"][0]["spans"] = spans
    source.write_text(json.dumps(doc, indent=2))
    code, two = import_json(store, source)
    assert code == 0
    assert two["events_new"] == 5  # two spans: start+end each, and the gpt-4o usage
    whole = Store(tmp_path / "whole" / ".laptime")
    import_json(whole, TRACE)
    assert sorted(e.id for e in log_events(store)) == sorted(e.id for e in log_events(whole))


def _span(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "traceId": "1" * 32,
        "spanId": "2" * 16,
        "name": "chat m",
        "startTimeUnixNano": "1767603600000000000",
        "endTimeUnixNano": "1767603601000000000",
        "attributes": [{"key": "gen_ai.usage.input_tokens", "value": {"intValue": "10"}}],
    }
    base.update(over)
    return base


def _doc(*spans: dict[str, Any]) -> bytes:
    return json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": list(spans)}]}]}).encode()


def test_bad_records_warn_with_file_and_line(store: Store, tmp_path: Path) -> None:
    lines = [
        _doc(_span()),
        _doc(_span(spanId="3" * 16))[:-20],  # truncated JSON
        _doc(_span(spanId="4" * 16, startTimeUnixNano=True)),  # wrong type
        _doc({k: v for k, v in _span(spanId="5" * 16).items() if k != "traceId"}),  # missing field
        b"\x89PNG\x00\xff garbage",
        b'{"resourceSpans": 7}',
    ]
    source = tmp_path / "traces.jsonl"
    source.write_bytes(b"\n".join(lines) + b"\n")
    result = laptime(store, "import", "otlp", str(source))
    assert result.exit_code == 0
    warnings = [w for w in result.stderr.splitlines() if w.startswith("warning:")]
    for number, needle in [
        (2, "not JSON"),
        (3, "startTimeUnixNano must be an integer"),
        (4, "missing resourceSpans[0].scopeSpans[0].spans[0].traceId"),
        (5, "not JSON"),
        (6, "missing `resourceSpans` list"),
    ]:
        assert any(f"{source}:{number}: " in w and needle in w for w in warnings), (number, warnings)
    assert "5 records skipped" in result.stdout


def test_a_damaged_first_line_does_not_make_json_lines_one_broken_document(store: Store, tmp_path: Path) -> None:
    """The mode was told from the first line alone: a JSON Lines file whose first line
    was damaged was read as one pretty-printed document, and every good line was lost."""
    lines = BATCHES.read_bytes().splitlines()
    source = tmp_path / "batches.jsonl"
    source.write_bytes(b"\n".join([lines[0][:32], *lines[1:]]) + b"\n")
    clean = tmp_path / "clean" / "batches.jsonl"
    clean.parent.mkdir()
    clean.write_bytes(b"\n".join([b"", *lines[1:]]) + b"\n")
    code, summary = import_json(store, source)
    assert code == 0
    assert [(p["line"], p["message"][:8]) for p in summary["problems"]] == [(1, "not JSON")]
    _, expected = import_json(Store(tmp_path / "other"), clean)
    assert summary["events_new"] == expected["events_new"] > 0


def test_truncated_document_names_its_line(store: Store, tmp_path: Path) -> None:
    source = tmp_path / "trace.json"
    text = TRACE.read_text()
    source.write_text(text[: len(text) // 2])
    result = laptime(store, "import", "otlp", str(source))
    assert result.exit_code == 1
    line = text[: len(text) // 2].rstrip().count("\n") + 1
    assert f"warning: {source}:{line}: not JSON" in result.stderr


@pytest.mark.parametrize("content", [b"", b"\x00\x01\x02\xff"])
def test_empty_or_garbage_file_exits_1(store: Store, tmp_path: Path, content: bytes) -> None:
    source = tmp_path / "trace.json"
    source.write_bytes(content)
    result = laptime(store, "import", "otlp", str(source))
    assert result.exit_code == 1
    assert f"warning: {source}" in result.stderr
    assert "1 records skipped" in result.stdout


def test_missing_and_unreadable_paths(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "nope.json"
    result = laptime(store, "import", "otlp", str(missing))
    assert result.exit_code == 1
    assert f"warning: {missing}: no such file or folder" in result.stderr
    source = tmp_path / "locked.json"
    source.write_bytes(TRACE.read_bytes())
    real_open = Path.open

    def guarded_open(self: Path, *args: Any, **kwargs: Any) -> Any:
        if self == source:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", guarded_open)  # chmod 000 does not stop root
    result = laptime(store, "import", "otlp", str(source))
    assert result.exit_code == 1
    assert f"warning: {source}: permission denied" in result.stderr


def test_detect() -> None:
    assert OtlpImporter().detect(TRACE)
    assert OtlpImporter().detect(BATCHES)
    assert OtlpImporter().detect(FIXTURES)  # a folder of OTLP files, for `import auto`
    assert not OtlpImporter().detect(FIXTURES.parent / "aidf")
    assert not OtlpImporter().detect(Path(__file__))


# -- fuzzing the span parser -------------------------------------------------------------

_scalars = (
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats() | st.text(max_size=10)
)
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
_value = st.one_of(
    st.fixed_dictionaries({"stringValue": _scalars}),
    st.fixed_dictionaries({"intValue": _scalars}),
    st.fixed_dictionaries({"doubleValue": _scalars}),
    st.fixed_dictionaries({"boolValue": _scalars}),
    st.fixed_dictionaries({"arrayValue": _json}),
    st.fixed_dictionaries({"kvlistValue": _json}),
    _json,
)
_attr = st.fixed_dictionaries(
    {
        "key": st.sampled_from(
            [
                "gen_ai.operation.name",
                "gen_ai.usage.input_tokens",
                "gen_ai.request.model",
                "error.type",
                "laptime.cost_usd",
                "laptime.kind",
                "x",
            ]
        )
        | _scalars,
        "value": _value,
    }
)
_span_strategy = st.fixed_dictionaries(
    {},
    optional={
        "traceId": st.sampled_from(["1" * 32, "A" * 32, "0" * 32, "xyz"]) | _scalars,
        "spanId": st.sampled_from(["2" * 16, "3" * 16, "0" * 16]) | _scalars,
        "parentSpanId": st.sampled_from(["", "2" * 16, "4" * 16]) | _scalars,
        "name": st.sampled_from(["chat gpt-4o", "execute_tool t", "invoke_agent a", ""]) | _scalars,
        "startTimeUnixNano": st.sampled_from(["1767603600000000000", "0", "-5", "9" * 30]) | _scalars,
        "endTimeUnixNano": st.sampled_from(["1767603601000000000", "1", ""]) | _scalars,
        "attributes": st.lists(_attr, max_size=4) | _json,
        "status": st.fixed_dictionaries({}, optional={"code": _scalars, "message": _scalars}) | _json,
    },
)


@given(_span_strategy)
def test_fuzz_span_parser(obj: dict[str, Any]) -> None:
    with contextlib.suppress(RecordError):
        span = parse_span(obj)
        for event in _Builder(Path("t.json"), {}).document([span], 1):
            assert ev.decode(ev.encode(event)) == event


@settings(max_examples=150)
@given(st.lists(_span_strategy, max_size=6), _json)
def test_fuzz_document_parser(spans: list[dict[str, Any]], noise: Any) -> None:
    for doc in ({"resourceSpans": [{"resource": noise, "scopeSpans": [{"spans": spans}]}]}, noise):
        parsed = [item for item in parse_document(doc) if isinstance(item, OtlpSpan)]
        for event in _Builder(Path("t.json"), {}).document(parsed, 1):
            assert ev.decode(ev.encode(event)) == event
