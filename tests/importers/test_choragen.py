"""`laptime import choragen`: the real sample, idempotency, grown files, bad input, fuzzing."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from laptime import events as ev
from laptime.cli import cli
from laptime.importers.base import FileState, ImportContext, ImportResult
from laptime.importers.choragen import Builder, ChoragenImporter, RecordError, parse_record
from laptime.index import Index
from laptime.store import Store

FIXTURES = Path(__file__).parent.parent / "fixtures" / "choragen"
SAMPLE = FIXTURES / "events.jsonl"
SAMPLE_LINES = 469


def laptime(store: Store, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--home", str(store.root), *args], catch_exceptions=False)


def import_json(store: Store, *paths: Path | str, fmt: str = "choragen") -> tuple[int, dict[str, Any]]:
    result = laptime(store, "import", fmt, *map(str, paths), "--json")
    return result.exit_code, json.loads(result.stdout)["imports"][0]


def log_bytes(store: Store) -> bytes:
    return b"".join(p.read_bytes() for p in store.segments())


def log_events(store: Store) -> list[ev.Event]:
    return [ev.decode(line) for line in log_bytes(store).splitlines() if line]


def copy_of(tmp_path: Path, lines: list[bytes], name: str = "events.jsonl") -> Path:
    target = tmp_path / "src" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(b"".join(lines))
    return target


def sample_lines() -> list[bytes]:
    lines = SAMPLE.read_bytes().splitlines(keepends=True)
    assert len(lines) == SAMPLE_LINES
    return lines


# -- the real sample ---------------------------------------------------------------------


def test_sample_imports_chains_requests_and_tasks(store: Store) -> None:
    code, summary = import_json(store, SAMPLE)
    assert code == 0
    assert summary["records"] == SAMPLE_LINES
    assert summary["skipped_records"] == 0
    assert summary["problems"] == []
    with Index(store) as index:
        index.update()
        runs = dict(index.query("SELECT name, run_id FROM runs WHERE runner = 'choragen'"))
        # 59 chains (46 created, the rest known from their tasks) and 23 requests
        kinds = dict(
            index.query(
                "SELECT attrs ->> '$.\"choragen.entity\"', COUNT(*) FROM runs WHERE runner = 'choragen' GROUP BY 1"
            )
        )
        assert kinds == {"chain": 59, "request": 23}
        tasks = index.query("SELECT COUNT(*), SUM(outcome = 'completed') FROM spans WHERE kind = 'task'")[0]
        assert tasks == (258, 123)  # 258 task:started records, 123 task:completed (122 tasks, one twice)
    # one chain, end to end, through the CLI
    run_id = runs["CHAIN-032-chain-policy"]
    shown = laptime(store, "report", "show", run_id, "--json")
    assert shown.exit_code == 0, shown.output
    detail = json.loads(shown.stdout)
    task_spans = [s for s in detail["spans"] if s["kind"] == "task"]
    assert [s["name"] for s in task_spans] == [
        "001-agents-md-policy",
        "002-control-agent-update",
        "003-commit-discipline",
        "004-verify-close",
    ]
    assert all(s["outcome"] == "completed" for s in task_spans)
    # 2025-12-08T01:09:59.143Z -> 01:10:30.371Z
    assert task_spans[0]["duration_ms"] == pytest.approx(31_228)


def test_reimport_adds_nothing(store: Store) -> None:
    assert import_json(store, SAMPLE)[0] == 0
    before = log_bytes(store)
    code, summary = import_json(store, SAMPLE)
    assert code == 0
    assert summary["events_new"] == 0
    assert summary["files_unchanged"] == 1
    assert log_bytes(store) == before
    # Even without the offsets cache (or from a moved copy), the ids dedupe.
    (store.root / "imports.sqlite").unlink()
    code, summary = import_json(store, SAMPLE)
    assert code == 0
    assert summary["events_new"] == 0
    assert summary["events_already_stored"] > 0
    assert log_bytes(store) == before


def test_grown_file_adds_only_its_new_part(store: Store, tmp_path: Path) -> None:
    lines = sample_lines()
    # Cut between a task:started (CHAIN-032's 001 task) and its task:completed.
    cut = next(i for i, line in enumerate(lines) if b"933a54ec-7dbe-483f-b4b5-9646b73191aa" in line) + 1
    source = copy_of(tmp_path, lines[:cut])
    code, first = import_json(store, source)
    assert code == 0
    assert first["records"] == cut
    size_after_first = len(log_bytes(store))
    with source.open("ab") as handle:
        handle.write(b"".join(lines[cut:]))
    code, second = import_json(store, source)
    assert code == 0
    assert second["records"] == SAMPLE_LINES - cut  # only the new part was read
    assert second["events_already_stored"] == 0
    assert len(log_bytes(store)) > size_after_first

    # The result equals a one-shot import of the whole file, event for event.
    whole = Store(tmp_path / "whole" / ".laptime")
    import_json(whole, SAMPLE)
    ids = sorted(e.id for e in log_events(store))
    assert ids == sorted(e.id for e in log_events(whole))
    assert first["events_new"] + second["events_new"] == len(ids)
    # The task opened in part one was closed by part two.
    with Index(store) as index:
        index.update()
        row = index.query("SELECT outcome, end_us - start_us FROM spans WHERE name = '001-agents-md-policy'")
    assert ("completed", 31_228_000) in row


def test_design_doc_form_and_keys_in_any_order(store: Store, tmp_path: Path) -> None:
    records = [
        {
            "agent": {"role": "control", "model": "claude-3-5-sonnet"},
            "eventType": "chain:created",
            "id": "a1b2c3",
            "timestamp": "2025-12-07T10:00:00Z",
            "entityType": "chain",
            "entityId": "CHAIN-031",
            "requestId": "CR-20251207-011",
        },
        {
            "id": "d4e5f6",
            "timestamp": "2025-12-07T10:05:00Z",
            "eventType": "task:created",
            "entityType": "task",
            "entityId": "001-create-adr",
            "chainId": "CHAIN-031",
        },
        {
            "entityId": "001-create-adr",
            "chainId": "CHAIN-031",
            "id": "g7h8i9",
            "eventType": "task:started",
            "timestamp": "2025-12-07T10:10:00+00:00",
            "entityType": "task",
            "agent": {"model": "claude-3-5-sonnet", "role": "impl"},
        },
        {
            "timestamp": "2025-12-07T10:20:00Z",
            "id": "r1",
            "eventType": "task:rework",
            "entityType": "task",
            "entityId": "001-create-adr",
            "chainId": "CHAIN-031",
        },
        {
            "id": "j0k1l2",
            "timestamp": "2025-12-07T10:30:00.000Z",
            "eventType": "task:completed",
            "entityType": "task",
            "entityId": "001-create-adr",
            "chainId": "CHAIN-031",
            "agent": {"model": "claude-3-5-sonnet", "role": "impl", "tokens": {"input": 5000, "output": 2000}},
        },
        {
            "tokens": {"output": 10, "input": 90},
            "model": "gpt-4o",
            "id": "k9",
            "entityId": "002-x",
            "chainId": "CHAIN-031",
            "entityType": "task",
            "eventType": "task:started",
            "timestamp": "2025-12-07T10:31:00Z",
        },
        {
            "id": "c9",
            "timestamp": "2025-12-07T11:00:00Z",
            "eventType": "chain:completed",
            "entityType": "chain",
            "entityId": "CHAIN-031",
        },
    ]
    source = copy_of(tmp_path, [json.dumps(r).encode() + b"\n" for r in records])
    code, summary = import_json(store, source)
    assert code == 0, summary
    assert summary["skipped_records"] == 0
    events = log_events(store)
    usage = sorted((e.model, e.input_tokens, e.output_tokens, e.worker) for e in events if isinstance(e, ev.LlmUsage))
    assert usage == [("claude-3-5-sonnet", 5000, 2000, "impl"), ("gpt-4o", 90, 10, None)]
    assert {e.provider for e in events if isinstance(e, ev.LlmUsage)} == {"anthropic", "openai"}
    metrics = sorted(e.name for e in events if isinstance(e, ev.Metric))
    assert metrics == ["choragen.task:created", "choragen.task:rework"]
    with Index(store) as index:
        index.update()
        run = index.query("SELECT name, outcome, ended_us - started_us, attrs FROM runs")
        assert len(run) == 1
        assert run[0][:3] == ("CHAIN-031", "completed", 3_600_000_000)
        assert json.loads(run[0][3])["choragen.request_id"] == "CR-20251207-011"
        spans = index.query("SELECT name, outcome, end_us - start_us FROM spans WHERE kind = 'task' ORDER BY 1")
        assert spans == [("001-create-adr", "completed", 1_200_000_000), ("002-x", "running", None)]


def test_restart_while_open_closes_the_first_attempt_as_stopped(tmp_path: Path) -> None:
    def rec(i: int, kind: str, minute: int) -> bytes:
        return json.dumps(
            {
                "id": f"id-{i}",
                "timestamp": f"2025-12-07T10:{minute:02d}:00Z",
                "eventType": f"task:{kind}",
                "entityType": "task",
                "entityId": "t",
                "chainId": "C",
            }
        ).encode()

    events = _build([rec(1, "started", 0), rec(2, "started", 5), rec(3, "completed", 7), rec(4, "completed", 9)])
    ends = [(e.span, e.outcome, e.ts[11:19]) for e in events if isinstance(e, ev.SpanEnd)]
    starts = [e.span for e in events if isinstance(e, ev.SpanStart) and e.kind == "task"]
    # attempt 1 stopped at 10:05; attempt 2 completed at 10:07; the stray completion at
    # 10:09 becomes a zero-length completed attempt, marked as having no start.
    assert ends == [
        (starts[0], "stopped", "10:05:00"),
        (starts[1], "completed", "10:07:00"),
        (starts[2], "completed", "10:09:00"),
    ]
    stray = next(e for e in events if isinstance(e, ev.SpanStart) and e.span == starts[2])
    assert stray.attrs["choragen.no_start"] is True


def _build(lines: list[bytes]) -> list[ev.Event]:
    builder = Builder(Path("events.jsonl"), {})
    out: list[ev.Event] = []
    for number, line in enumerate(lines, start=1):
        out.extend(builder.events(parse_record(line), number))
    return out


# -- bad input ---------------------------------------------------------------------------

GOOD = (
    b'{"id":"u1","timestamp":"2025-12-07T10:00:00Z","eventType":"task:started","entityType":"task",'
    b'"entityId":"001-a","chainId":"CHAIN-001-x"}\n'
)


def test_bad_records_warn_with_file_and_line_and_are_counted(store: Store, tmp_path: Path) -> None:
    bad = [
        GOOD,
        b'{"id":"u2","timestamp":"2025-12-07T10:05:00Z","eventType":"task:comp\n',  # truncated JSON
        b'{"id":"u3","timestamp":12345,"eventType":"task:completed","entityType":"task","entityId":"001-a"}\n',
        b'{"id":"u4","timestamp":"2025-12-07T10:05:00Z","eventType":"task:completed","entityType":"task"}\n',
        b"\x00\xff\xfe\x89PNG\r\n",  # binary garbage
        (
            b'{"id":"u5","timestamp":"2025-12-07T10:06:00Z","eventType":"task:completed","entityType":"task",'
            b'"entityId":"001-a","chainId":"CHAIN-001-x","tokens":{"input":"many","output":1}}\n'
        ),
        b"[1, 2, 3]\n",
    ]
    source = copy_of(tmp_path, bad)
    result = laptime(store, "import", "choragen", str(source))
    assert result.exit_code == 0  # the good line was imported
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 6
    for number, needle in [
        (2, "not JSON"),
        (3, "`timestamp` must be a string"),
        (4, "missing field `entityId`"),
        (5, "not JSON"),
        (6, "`tokens.input` must be a whole number"),
        (7, "not a JSON object"),
    ]:
        assert any(f"{source}:{number}: " in w and needle in w for w in warnings), (number, warnings)
    assert "6 records skipped" in result.stdout
    assert "1 new events" in result.stdout or "2 new events" in result.stdout


def test_truncated_last_line_is_reported_then_read_when_completed(store: Store, tmp_path: Path) -> None:
    source = copy_of(tmp_path, [GOOD, GOOD.replace(b"u1", b"u9").replace(b"001-a", b"002-b")[:40]])
    code, summary = import_json(store, source)
    assert code == 0
    assert [(p["line"], "truncated last line" in p["message"]) for p in summary["problems"]] == [(2, True)]
    # The writer finishes the line: the next import reads it.
    source.write_bytes(GOOD + GOOD.replace(b"u1", b"u9").replace(b"001-a", b"002-b"))
    code, summary = import_json(store, source)
    assert code == 0
    assert summary["problems"] == []
    assert summary["records"] == 1
    assert summary["events_new"] == 1


def test_unterminated_complete_last_line_is_read(store: Store, tmp_path: Path) -> None:
    source = copy_of(tmp_path, [GOOD.rstrip(b"\n")])
    code, summary = import_json(store, source)
    assert code == 0
    assert summary["events_new"] == 2  # the chain's run and the task's start


@pytest.mark.parametrize("content", [b"", b"not json at all\n\x00\x01\x02\n"])
def test_file_with_nothing_importable_exits_1(store: Store, tmp_path: Path, content: bytes) -> None:
    source = copy_of(tmp_path, [content])
    result = laptime(store, "import", "choragen", str(source))
    assert result.exit_code == 1
    assert f"warning: {source}" in result.stderr
    assert "records skipped" in result.stdout


def test_missing_path_exits_1(store: Store, tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "events.jsonl"
    result = laptime(store, "import", "choragen", str(missing))
    assert result.exit_code == 1
    assert f"warning: {missing}: no such file or folder" in result.stderr
    # ...but a missing path next to a good file still imports the good one
    result = laptime(store, "import", "choragen", str(missing), str(SAMPLE))
    assert result.exit_code == 0


def test_unreadable_file_warns_and_exits_1(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = copy_of(tmp_path, [GOOD])
    real_open = Path.open

    def guarded_open(self: Path, *args: Any, **kwargs: Any) -> Any:
        if self == source:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", guarded_open)  # chmod 000 does not stop root
    result = laptime(store, "import", "choragen", str(source))
    assert result.exit_code == 1
    assert f"warning: {source}: permission denied" in result.stderr


def test_a_folder_is_searched_for_events_files(store: Store, tmp_path: Path) -> None:
    project = tmp_path / "project"
    target = project / ".choragen" / "metrics" / "events.jsonl"
    target.parent.mkdir(parents=True)
    target.write_bytes(GOOD)
    importer = ChoragenImporter()
    assert list(importer.discover(project)) == [target]
    assert importer.detect(project)
    assert importer.detect(SAMPLE)
    assert not importer.detect(Path(__file__))
    result = laptime(store, "import", "auto", str(project))
    assert result.exit_code == 0, result.output


# -- fuzzing the record parser -----------------------------------------------------------

_json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12)
_json = st.recursive(
    _json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
_keys = st.sampled_from(
    [
        "id",
        "timestamp",
        "eventType",
        "entityType",
        "entityId",
        "chainId",
        "requestId",
        "model",
        "tokens",
        "agent",
        "metadata",
    ]
)
_plausible = st.fixed_dictionaries(
    {
        "id": st.text(min_size=1, max_size=8),
        "timestamp": st.sampled_from(
            ["2025-12-07T10:00:00Z", "2025-12-07T10:00:00.5+02:00", "0001-01-01T00:00:00Z", "x"]
        ),
        "eventType": st.sampled_from(
            [
                "task:started",
                "task:completed",
                "task:rework",
                "chain:created",
                "chain:completed",
                "request:closed",
                "request:created",
                "task",
                "bogus:x",
            ]
        ),
        "entityType": st.sampled_from(["task", "chain", "request", "other"]),
        "entityId": st.text(max_size=6),
    },
    optional={
        "chainId": st.sampled_from(["C1", "C2", ""]) | _json_scalars,
        "requestId": _json_scalars,
        "model": st.sampled_from(["claude-x", "gpt-4o"]) | _json_scalars,
        "tokens": st.fixed_dictionaries({}, optional={"input": _json_scalars, "output": _json_scalars}) | _json,
        "agent": st.fixed_dictionaries({}, optional={"model": _json_scalars, "role": _json_scalars, "tokens": _json})
        | _json,
        "metadata": _json,
    },
)


@given(st.binary(max_size=200))
def test_fuzz_parser_on_arbitrary_bytes(data: bytes) -> None:
    with contextlib.suppress(RecordError):
        parse_record(data)


@given(st.dictionaries(_keys, _json, max_size=11))
def test_fuzz_parser_on_json_objects(obj: dict[str, Any]) -> None:
    with contextlib.suppress(RecordError):
        parse_record(json.dumps(obj))


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=150)
@given(st.lists(_plausible, max_size=12))
def test_fuzz_records_always_build_valid_events(records: list[dict[str, Any]]) -> None:
    builder = Builder(Path("events.jsonl"), {})
    ends: dict[str, int] = {}
    for number, obj in enumerate(records, start=1):
        try:
            events = builder.events(parse_record(json.dumps(obj)), number)
        except RecordError:
            continue  # a bad or repeated record is skipped (and warned about by the importer)
        for event in events:
            # every event survives the log's own validation
            assert ev.decode(ev.encode(event)) == event
            if isinstance(event, ev.SpanEnd):
                ends[event.span] = ends.get(event.span, 0) + 1
    assert all(count == 1 for count in ends.values())  # a span is closed at most once


def test_read_reports_through_the_context(tmp_path: Path) -> None:
    source = copy_of(tmp_path, [GOOD, b"{oops\n"])
    result = ImportResult(format="choragen")
    ctx = ImportContext(result, None)
    ctx.file = source
    state = FileState()
    events = list(ChoragenImporter().read(source, state, ctx))
    assert len(events) == 2
    assert state.offset == source.stat().st_size
    assert state.extra["line"] == 2
    assert [str(p) for p in result.problems] == [
        f"{source}:2: not JSON (JSON is malformed: object keys must be strings (byte 1))"
    ]


def test_a_replayed_record_is_skipped_with_a_warning(tmp_path: Path) -> None:
    source = copy_of(tmp_path, [GOOD, GOOD])
    result = ImportResult(format="choragen")
    ctx = ImportContext(result, None)
    ctx.file = source
    events = list(ChoragenImporter().read(source, FileState(), ctx))
    assert len(events) == 2  # the first copy's events only
    assert len(result.problems) == 1
    assert str(result.problems[0]).startswith(f"{source}:2: duplicate record id ")
    assert str(result.problems[0]).endswith("(first on line 1); skipped")
