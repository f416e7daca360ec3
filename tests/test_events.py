"""Event schema v1: the structs, the shipped JSON Schema and the spec in docs/events.md agree."""

from __future__ import annotations

import calendar
import importlib.util
import inspect
import json
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema
import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from laptime import events as ev
from laptime.clock import format_timestamp, new_id, parse_timestamp_us, timestamp_from_us

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "events.md"
GEN_SCRIPT = REPO / "scripts" / "gen_schema.py"
SHIPPED = REPO / "src" / "laptime" / "schema" / ev.SCHEMA_FILE

CANONICAL_TS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
UUID7_HEX = re.compile(r"[0-9a-f]{12}7[0-9a-f]{3}[89ab][0-9a-f]{15}")
TAGS = {t.__struct_config__.tag: t for t in ev.EVENT_TYPES}
COMMON_FIELDS = [f.name for f in msgspec.structs.fields(ev._Event)]


def _own_fields(event_type: type[Any]) -> list[str]:
    return [f.name for f in msgspec.structs.fields(event_type) if f.name not in COMMON_FIELDS]


# -- reading the spec -------------------------------------------------------------------------


@dataclass(frozen=True)
class Example:
    line_no: int  # 1-based line in docs/events.md
    text: str
    section: str  # the nearest heading above it


def _doc_text() -> str:
    return DOC.read_text(encoding="utf-8")


def _examples() -> list[Example]:
    """Every line of every fenced ```json block: each one is a whole event."""
    out: list[Example] = []
    section = ""
    fence: str | None = None
    for number, line in enumerate(_doc_text().splitlines(), start=1):
        if fence is None:
            if line.startswith("#"):
                section = line.lstrip("#").strip()
            elif line.startswith("```"):
                fence = line[3:].strip()
        elif line.startswith("```"):
            fence = None
        elif fence == "json" and line.strip():
            out.append(Example(number, line, section))
    return out


def _section(heading: str) -> str:
    """The text under a heading line (exact match), up to the next heading of the same or a higher level."""
    lines = _doc_text().splitlines()
    start = lines.index(heading)
    level = len(heading) - len(heading.lstrip("#"))
    body = []
    in_fence = False
    for line in lines[start + 1 :]:
        if line.startswith("```"):
            in_fence = not in_fence
        if not in_fence and line.startswith("#"):
            depth = len(line) - len(line.lstrip("#"))
            if depth <= level:
                break
        body.append(line)
    return "\n".join(body)


EXAMPLES = _examples()


def _shipped_schema() -> dict[str, Any]:
    return ev.load_json_schema()


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = _shipped_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _load_gen_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_schema", GEN_SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- the shipped JSON Schema ------------------------------------------------------------------


class TestShippedSchema:
    def test_shipped_schema_equals_the_generated_one(self) -> None:
        assert _shipped_schema() == ev.json_schema(), "run: python scripts/gen_schema.py"

    def test_shipped_file_is_byte_for_byte_what_the_script_writes(self) -> None:
        script = _load_gen_script()
        assert SHIPPED.read_text(encoding="utf-8") == script.render(), "run: python scripts/gen_schema.py"

    def test_file_is_pretty_printed_sorted_and_newline_terminated(self) -> None:
        text = SHIPPED.read_text(encoding="utf-8")
        assert text.endswith("}\n")
        assert text == json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    def test_script_check_mode_reports_drift(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        script = _load_gen_script()
        stale = tmp_path / "events-v1.schema.json"
        stale.write_text("{}\n", encoding="utf-8")
        monkeypatch.setattr(script, "SCHEMA_PATH", stale)
        assert script.main(["--check"]) == 1
        assert script.main([]) == 0
        assert stale.read_text(encoding="utf-8") == script.render()
        assert script.main(["--check"]) == 0

    @pytest.mark.parametrize("layout", ["as written", "cleaned"])
    def test_drift_check_does_not_depend_on_how_msgspec_lays_out_docstrings(
        self, layout: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # msgspec 0.18 copies a struct's docstring as written; 0.23 strips its indentation.
        real_schema = msgspec.json.schema
        indented = [t for t in ev.EVENT_TYPES if t.__doc__ and "\n    " in t.__doc__]
        assert indented, "no multi-line docstring left to tell the layouts apart"

        def schema_with_docstrings(event_type: Any) -> dict[str, Any]:
            schema: dict[str, Any] = real_schema(event_type)
            for event in indented:
                doc = event.__doc__ or ""
                described = schema["$defs"][event.__name__]
                described["description"] = doc if layout == "as written" else inspect.cleandoc(doc)
            return schema

        monkeypatch.setattr(msgspec.json, "schema", schema_with_docstrings)
        assert ev.json_schema() == _shipped_schema()
        assert _load_gen_script().render() == SHIPPED.read_text(encoding="utf-8")

    def test_script_help_prints_usage_and_writes_nothing(self) -> None:
        before = SHIPPED.read_bytes(), SHIPPED.stat().st_mtime_ns
        result = subprocess.run(
            [sys.executable, str(GEN_SCRIPT), "--help"], capture_output=True, text=True, check=False, timeout=60
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("usage: gen_schema.py [-h] [--check]")
        assert "example: python scripts/gen_schema.py --check" in result.stdout
        assert (SHIPPED.read_bytes(), SHIPPED.stat().st_mtime_ns) == before

    def test_script_rejects_an_unknown_argument_with_exit_2(self) -> None:
        before = SHIPPED.read_bytes()
        result = subprocess.run(
            [sys.executable, str(GEN_SCRIPT), "--chek"], capture_output=True, text=True, check=False, timeout=60
        )
        assert result.returncode == 2
        assert "unrecognized arguments: --chek" in result.stderr
        assert SHIPPED.read_bytes() == before

    def test_is_a_valid_draft_2020_12_schema(self) -> None:
        schema = _shipped_schema()
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        jsonschema.Draft202012Validator.check_schema(schema)

    def test_covers_every_event_type(self) -> None:
        mapping = _shipped_schema()["discriminator"]["mapping"]
        assert set(mapping) == set(TAGS)

    def test_required_fields_match_the_structs(self) -> None:
        defs = _shipped_schema()["$defs"]
        for tag, event_type in TAGS.items():
            info = msgspec.inspect.type_info(event_type)
            assert isinstance(info, msgspec.inspect.StructType)
            required = {"type"} | {f.name for f in info.fields if f.required}
            assert set(defs[event_type.__name__]["required"]) == required, tag
            assert {"v", "id", "ts", "run"} <= required

    def test_rejects_what_the_decoder_rejects(self, validator: jsonschema.Draft202012Validator) -> None:
        good = {"type": "llm", "v": 1, "id": "a", "ts": "2026-11-21T10:00:00.000000Z", "run": "r", "model": "m"}
        assert validator.is_valid(good)
        for bad in (
            {**good, "input_tokens": "12"},
            {**good, "type": "nope"},
            {k: v for k, v in good.items() if k != "model"},
            {**good, "source": {"file": "x"}},
            {**good, "attrs": []},
        ):
            assert not validator.is_valid(bad), bad
            with pytest.raises(ev.EventDecodeError):
                ev.decode(json.dumps(bad))


# -- the spec's example lines -----------------------------------------------------------------


def test_the_spec_has_examples() -> None:
    assert len(EXAMPLES) >= 30
    assert {json.loads(e.text)["type"] for e in EXAMPLES} == set(TAGS), "every event type needs an example line"


@pytest.mark.parametrize("example", EXAMPLES, ids=[f"events.md:{e.line_no}" for e in EXAMPLES])
class TestSpecExamples:
    def test_decodes(self, example: Example) -> None:
        event = ev.decode(example.text)
        assert ev.decode(ev.encode(event)) == event

    def test_validates_against_the_shipped_schema(
        self, example: Example, validator: jsonschema.Draft202012Validator
    ) -> None:
        errors = [
            f"{list(err.absolute_path)}: {err.message}" for err in validator.iter_errors(json.loads(example.text))
        ]
        assert errors == []

    def test_is_written_the_way_the_spec_says(self, example: Example) -> None:
        raw = json.loads(example.text)
        assert next(iter(raw)) == "type", "write `type` first"
        assert raw["v"] == 1
        assert CANONICAL_TS.fullmatch(raw["ts"]), raw["ts"]
        assert timestamp_from_us(parse_timestamp_us(raw["ts"])) == raw["ts"]
        assert re.fullmatch(r"[0-9a-f]{32}", raw["id"])
        event = ev.decode(example.text)
        # time-ordered ids: the first 48 bits are the event's millisecond
        assert int(event.id[:12], 16) == parse_timestamp_us(event.ts) // 1000
        if event.source is None:
            assert UUID7_HEX.fullmatch(event.id), event.id
        if isinstance(event, ev.SpanStart):
            assert event.id == event.span
            if event.kind == "run":
                assert event.run == event.span
                assert event.parent is None
        elif isinstance(event, ev.SpanEnd):
            assert event.parent is None, "a span_end need not repeat its parent"
        else:
            assert event.parent is not None, "point events name the span they happened in"

    def test_sits_under_the_heading_of_its_type(self, example: Example) -> None:
        tag = json.loads(example.text)["type"]
        assert example.section in (f"`{tag}`", "A whole run")


def test_an_id_names_one_event_throughout_the_spec() -> None:
    seen: dict[str, ev.Event] = {}
    for example in EXAMPLES:
        event = ev.decode(example.text)
        assert seen.setdefault(event.id, event) == event, f"events.md:{example.line_no} reuses id {event.id}"


class TestWholeRunExample:
    """The spec's complete run obeys every span rule the spec states."""

    @pytest.fixture
    def events(self) -> list[ev.Event]:
        return [ev.decode(e.text) for e in EXAMPLES if e.section == "A whole run"]

    def test_spans_nest_open_and_close(self, events: list[ev.Event]) -> None:
        run_id = events[0].run
        assert isinstance(events[0], ev.SpanStart)
        assert events[0].kind == "run"
        assert events[0].id == events[0].span == run_id
        open_spans: list[str] = []
        closed: set[str] = set()
        last_ts = ""
        for event in events:
            assert event.run == run_id
            assert event.ts >= last_ts, "the example is written in time order"
            last_ts = event.ts
            assert event.ts.startswith("2026-11-21"), "all of it belongs in the 2026-11-21 segment"
            if isinstance(event, ev.SpanStart):
                if event.kind != "run":
                    assert event.parent == open_spans[-1]
                open_spans.append(event.span)
            elif isinstance(event, ev.SpanEnd):
                assert event.span == open_spans.pop(), "spans close innermost first"
                closed.add(event.span)
            else:
                assert event.parent == open_spans[-1]
            if isinstance(event, ev.LlmUsage) and event.span is not None:
                assert event.span == open_spans[-1]
        assert open_spans == []
        assert run_id in closed

    def test_the_numbers_the_spec_quotes(self, events: list[ev.Event]) -> None:
        start_us = parse_timestamp_us(events[0].ts)
        end = events[-1]
        assert isinstance(end, ev.SpanEnd)
        assert end.span == events[0].run
        assert parse_timestamp_us(end.ts) - start_us == 121_500_000
        passed_at = None
        tvc_us = None
        for event in events:
            if isinstance(event, ev.Validation) and event.passed and passed_at is None:
                passed_at = event.ts
            if isinstance(event, ev.Checkpoint) and event.verified and passed_at is not None:
                tvc_us = parse_timestamp_us(event.ts) - start_us
                break
        assert tvc_us == 75_400_000
        text = _section("## A whole run")
        assert "121.5 s" in text
        assert "75.4 s" in text


# -- every type and field is documented -------------------------------------------------------


class TestSpecCoverage:
    @pytest.mark.parametrize("tag", sorted(TAGS))
    def test_every_event_type_has_a_heading(self, tag: str) -> None:
        assert f"### `{tag}`" in _doc_text().splitlines()

    @pytest.mark.parametrize("tag", sorted(TAGS))
    def test_every_field_of_a_type_has_a_row(self, tag: str) -> None:
        body = _section(f"### `{tag}`")
        missing = [name for name in _own_fields(TAGS[tag]) if f"| `{name}` |" not in body]
        assert missing == []

    def test_every_common_field_has_a_row(self) -> None:
        body = _section("## Common fields")
        missing = [name for name in ["type", *COMMON_FIELDS] if f"| `{name}` |" not in body]
        assert missing == []

    def test_every_source_field_has_a_row(self) -> None:
        body = _section("### Source")
        missing = [f.name for f in msgspec.structs.fields(ev.Source) if f"| `{f.name}` |" not in body]
        assert missing == []

    def test_every_outcome_is_explained(self) -> None:
        body = _section("## Spans")
        missing = [outcome for outcome in ev.OUTCOMES if f"| `{outcome}` |" not in body]
        assert missing == []

    def test_every_span_kind_is_listed(self) -> None:
        body = _section("### `span_start`")
        assert all(f"`{kind}`" in body for kind in ev.SPAN_KINDS)

    def test_documented_defaults_match_the_structs(self) -> None:
        for tag, event_type in TAGS.items():
            body = _section(f"### `{tag}`")
            for field in msgspec.structs.fields(event_type):
                if field.name in COMMON_FIELDS:
                    continue
                row = next(line for line in body.splitlines() if line.startswith(f"| `{field.name}` |"))
                cells = [cell.strip() for cell in row.strip("|").split("|")]
                required, default = cells[2], cells[3]
                if field.required:
                    assert (required, default) == ("yes", ""), row
                else:
                    assert required == "no", row
                    value = field.default_factory() if field.default is msgspec.NODEFAULT else field.default
                    assert default == f"`{json.dumps(value)}`", row


# -- encode and decode ------------------------------------------------------------------------

TS = "2026-11-21T10:00:00.123456Z"
BASE = {"v": 1, "id": "01a1fd8c69007963804897320000aaaa", "ts": TS, "run": "01a1fd8c69007963804897320000bbbb"}
COMMON_FULL = {
    "parent": "01a1fd8c69007963804897320000cccc",
    "attrs": {"runner": "ci", "nested": {"list": [1, 2.5, None, True, "x"]}},
    "source": ev.Source(importer="claude-code", file="projects/shop/session.jsonl", pos="12"),
}
# Every type-specific field with a value other than its default, so the round trip exercises it.
FULL: dict[type[Any], dict[str, Any]] = {
    ev.SpanStart: {"span": "s1", "kind": "tool", "name": "grep"},
    ev.SpanEnd: {"span": "s1", "outcome": "failed", "error": "boom"},
    ev.Span: {
        "span": "s1",
        "kind": "phase",
        "name": "verify",
        "end_id": "01a1fd8c69007963804897320000dddd",
        "end_ts": "2026-11-21T10:00:03.000000Z",
        "outcome": "failed",
        "error": "boom",
        "end_attrs": {"retries": 2},
        "end_source": ev.Source(importer="runr", file="timeline.jsonl", pos="9"),
    },
    ev.LlmUsage: {
        "span": "s1",
        "provider": "openai",
        "model": "gpt-4.1",
        "input_tokens": 9000,
        "output_tokens": 800,
        "cache_read_tokens": 6144,
        "cache_write_tokens": 7,
        "input_includes_cache": True,
        "latency_ms": 2100.5,
        "estimated": True,
        "cost_usd": 0.0123,
        "worker": "w1",
    },
    ev.Validation: {"command": "pytest", "passed": True, "exit_code": 0, "duration_ms": 12.5, "tier": "fast"},
    ev.FileChange: {"path": "a.py", "change": "deleted", "lines_added": 1, "lines_removed": 9},
    ev.QueueSample: {"ready": 3, "active": 2, "waiting": 1},
    ev.Milestone: {"name": "m1", "status": "completed", "index": 0},
    ev.Checkpoint: {"commit": "abc123", "verified": True},
    ev.ScopeViolation: {"path": "/etc/passwd", "reason": "outside the repo"},
    ev.ErrorEvent: {"message": "rate limited", "error_type": "RateLimitError"},
    ev.Metric: {"name": "coverage", "value": 87.5, "unit": "%"},
}
MINIMAL: dict[type[Any], dict[str, Any]] = {
    event_type: {f.name: fields[f.name] for f in msgspec.structs.fields(event_type) if f.name in fields and f.required}
    for event_type, fields in FULL.items()
}
TYPE_IDS = [t.__name__ for t in ev.EVENT_TYPES]


class TestRoundTrip:
    def test_samples_cover_every_type_and_field(self) -> None:
        assert set(FULL) == set(ev.EVENT_TYPES)
        for event_type, fields in FULL.items():
            assert sorted(fields) == sorted(_own_fields(event_type)), event_type.__name__
            for field in msgspec.structs.fields(event_type):
                if field.name in fields and not field.required:
                    assert fields[field.name] != field.default, f"{event_type.__name__}.{field.name}"

    @pytest.mark.parametrize("event_type", ev.EVENT_TYPES, ids=TYPE_IDS)
    def test_every_field_survives(self, event_type: type[Any], validator: jsonschema.Draft202012Validator) -> None:
        event = event_type(**BASE, **COMMON_FULL, **FULL[event_type])
        line = ev.encode(event)
        assert line.endswith(b"\n")
        assert line.count(b"\n") == 1
        assert ev.decode(line) == event
        assert type(ev.decode(line)) is event_type
        raw = json.loads(line)
        assert raw["type"] == event_type.__struct_config__.tag
        assert next(iter(raw)) == "type"
        validator.validate(raw)

    @pytest.mark.parametrize("event_type", ev.EVENT_TYPES, ids=TYPE_IDS)
    def test_defaults_are_left_out_and_come_back(
        self, event_type: type[Any], validator: jsonschema.Draft202012Validator
    ) -> None:
        event = event_type(**BASE, **MINIMAL[event_type])
        line = ev.encode(event)
        raw = json.loads(line)
        assert set(raw) == {"type", *BASE, *MINIMAL[event_type]}
        assert ev.decode(line) == event
        assert ev.decode(line.decode()) == event  # str is accepted as well as bytes
        validator.validate(raw)

    def test_null_equals_absent_for_fields_that_default_to_null(self) -> None:
        line = json.dumps({"type": "checkpoint", **BASE, "parent": None, "source": None, "commit": None})
        assert ev.decode(line) == ev.Checkpoint(**BASE)

    def test_field_order_does_not_matter(self) -> None:
        event = ev.Metric(**BASE, name="n", value=1.0)
        raw = json.loads(ev.encode(event))
        assert ev.decode(json.dumps(dict(reversed(list(raw.items()))))) == event

    def test_unknown_fields_are_ignored(self) -> None:
        raw = {"type": "metric", **BASE, "name": "n", "value": 1, "from_the_future": {"x": 1}}
        event = ev.decode(json.dumps(raw))
        assert event == ev.Metric(**BASE, name="n", value=1.0)
        assert b"from_the_future" not in ev.encode(event)

    def test_integer_metric_value_reads_as_a_float(self) -> None:
        event = ev.decode(json.dumps({"type": "metric", **BASE, "name": "n", "value": 3}))
        assert isinstance(event, ev.Metric)
        assert event.value == 3.0
        assert isinstance(event.value, float)


# -- decode errors ----------------------------------------------------------------------------

LLM = {"type": "llm", **BASE, "model": "claude-sonnet-4-5"}


class TestDecodeErrors:
    @pytest.mark.parametrize(
        ("change", "path"),
        [
            ({"input_tokens": "12"}, "$.input_tokens"),
            ({"input_tokens": 1.5}, "$.input_tokens"),
            ({"output_tokens": None}, "$.output_tokens"),
            ({"estimated": "yes"}, "$.estimated"),
            ({"latency_ms": "fast"}, "$.latency_ms"),
            ({"attrs": [1, 2]}, "$.attrs"),
            ({"source": {"importer": 3, "file": "f"}}, "$.source.importer"),
            ({"source": {"importer": "x"}}, "$.source"),
            ({"type": "llm_call"}, "$.type"),
            ({"run": 7}, "$.run"),
            ({"v": "1"}, "$.v"),
        ],
    )
    def test_names_the_json_path_of_the_bad_field(self, change: dict[str, Any], path: str) -> None:
        with pytest.raises(ev.EventDecodeError) as info:
            ev.decode(json.dumps({**LLM, **change}))
        assert f"`{path}`" in str(info.value)

    @pytest.mark.parametrize(
        ("line", "path"),
        [
            ({"type": "span_start", **BASE, "span": "s", "kind": "subagent", "name": "x"}, "$.kind"),
            ({"type": "span_end", **BASE, "span": "s", "outcome": "ok"}, "$.outcome"),
            ({"type": "file_change", **BASE, "path": "a", "change": "renamed"}, "$.change"),
            ({"type": "milestone", **BASE, "name": "m", "status": "done"}, "$.status"),
            ({"type": "metric", **BASE, "name": "m", "value": None}, "$.value"),
        ],
    )
    def test_enum_and_null_errors_name_the_field(self, line: dict[str, Any], path: str) -> None:
        with pytest.raises(ev.EventDecodeError, match=re.escape(f"`{path}`")):
            ev.decode(json.dumps(line))

    @pytest.mark.parametrize("missing", ["v", "id", "ts", "run", "model"])
    def test_missing_required_field_is_named(self, missing: str) -> None:
        raw = {k: v for k, v in LLM.items() if k != missing}
        with pytest.raises(ev.EventDecodeError, match=f"missing required field `{missing}`"):
            ev.decode(json.dumps(raw))

    def test_missing_type_is_named(self) -> None:
        raw = {k: v for k, v in LLM.items() if k != "type"}
        with pytest.raises(ev.EventDecodeError, match="`type`"):
            ev.decode(json.dumps(raw))

    @pytest.mark.parametrize("version", [2, 0, 100])
    def test_other_schema_versions_are_refused_clearly(self, version: int) -> None:
        with pytest.raises(ev.EventDecodeError) as info:
            ev.decode(json.dumps({**LLM, "v": version}))
        message = str(info.value)
        assert f"unsupported schema version {version}" in message
        assert "`$.v`" in message
        assert "v1" in message

    @pytest.mark.parametrize("line", ["", "not json", '{"type": "llm", "v": 1', "[1, 2]", "null"])
    def test_malformed_lines_raise_decode_error_not_something_else(self, line: str) -> None:
        with pytest.raises(ev.EventDecodeError):
            ev.decode(line)

    def test_decode_error_is_a_value_error(self) -> None:
        assert issubclass(ev.EventDecodeError, ValueError)


# -- ids and timestamps as the spec describes them --------------------------------------------


class TestIdsAndTimestamps:
    def test_new_ids_have_the_documented_layout_and_sort_in_time_order(self) -> None:
        start = parse_timestamp_us("2026-11-21T10:00:00.000000Z") * 1000
        ids = [new_id(start + step * 1_000_000) for step in range(50)]
        for step, value in enumerate(ids):
            assert UUID7_HEX.fullmatch(value), value
            assert int(value[:12], 16) == start // 1_000_000 + step
        assert ids == sorted(ids)
        assert len(set(ids)) == len(ids)

    def test_ids_in_one_millisecond_are_unique_and_ordered(self) -> None:
        ns = parse_timestamp_us("2026-11-21T10:00:00.000000Z") * 1000
        ids = [new_id(ns) for _ in range(1000)]
        assert len(set(ids)) == len(ids)
        assert ids == sorted(ids)
        assert {value[:12] for value in ids} == {f"{ns // 1_000_000:012x}"}

    @pytest.mark.parametrize(
        "ts",
        ["2026-11-21T10:00:00.000000Z", "1970-01-01T00:00:00.000001Z", "2026-12-31T23:59:59.999999Z"],
    )
    def test_timestamps_are_canonical_and_exact(self, ts: str) -> None:
        us = parse_timestamp_us(ts)
        assert format_timestamp(us * 1000) == ts
        assert CANONICAL_TS.fullmatch(format_timestamp(us * 1000 + 999))
        # the index's arithmetic on the text: unixepoch(ts[0:19]) * 1e6 + int(ts[20:26])
        seconds = calendar.timegm(time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S"))
        assert seconds * 1_000_000 + int(ts[20:26]) == us


# -- property: random events survive the round trip and fit the schema ------------------------

_ints = st.integers(min_value=0, max_value=2**63 - 1)
_floats = st.floats(allow_nan=False, allow_infinity=False)
_json_scalars = st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**63 - 1) | _floats | st.text()
_json_values = st.recursive(
    _json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=10,
)
_ts = st.integers(min_value=0, max_value=parse_timestamp_us("2999-12-31T23:59:59.999999Z")).map(timestamp_from_us)
_common = {
    "v": st.just(1),
    "id": st.text(min_size=1),
    "ts": _ts,
    "run": st.text(min_size=1),
    "parent": st.none() | st.text(),
    "attrs": st.dictionaries(st.text(), _json_values, max_size=5),
    "source": st.none() | st.builds(ev.Source, importer=st.text(), file=st.text(), pos=st.text()),
}
_llm_usage = st.builds(
    ev.LlmUsage,
    **_common,
    span=st.none() | st.text(),
    provider=st.text(),
    model=st.text(),
    input_tokens=_ints,
    output_tokens=_ints,
    cache_read_tokens=_ints,
    cache_write_tokens=_ints,
    input_includes_cache=st.booleans(),
    latency_ms=st.none() | _floats,
    estimated=st.booleans(),
    cost_usd=st.none() | _floats,
    worker=st.none() | st.text(),
)
_file_change = st.builds(
    ev.FileChange,
    **_common,
    path=st.text(),
    change=st.sampled_from(["created", "modified", "deleted"]),
    lines_added=_ints,
    lines_removed=_ints,
)


class TestRandomRoundTrip:
    @settings(database=None, max_examples=100, deadline=None)
    @given(event=st.one_of(_llm_usage, _file_change))
    def test_random_events_round_trip_and_validate(
        self, event: ev.Event, validator: jsonschema.Draft202012Validator
    ) -> None:
        line = ev.encode(event)
        assert line.endswith(b"\n")
        assert b"\n" not in line[:-1], "one event, one physical line"
        decoded = ev.decode(line)
        assert decoded == event
        assert type(decoded) is type(event)
        validator.validate(json.loads(line))


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00.000000Z"),
        ("0999-12-31T23:59:59.5+00:00", "0999-12-31T23:59:59.500000Z"),
        ("1969-12-31T23:59:59.5Z", "1969-12-31T23:59:59.500000Z"),
        ("9999-12-31T23:59:59.999999Z", "9999-12-31T23:59:59.999999Z"),
    ],
)
def test_every_canonical_timestamp_has_four_year_digits(text: str, canonical: str) -> None:
    """strftime's %Y gives "1" for the year 1 (glibc): a timestamp of 24 characters, which
    the index cannot read by position, and a segment named 1-01-01T00.jsonl."""
    from laptime.clock import parse_timestamp_us, timestamp_from_us
    from laptime.importers.claude_code import canonical_ts, parse_ts

    assert canonical_ts(text) == canonical
    ts, ns = parse_ts(text)
    assert ts == canonical
    assert ns == parse_timestamp_us(text) * 1000
    assert timestamp_from_us(parse_timestamp_us(text)) == canonical
