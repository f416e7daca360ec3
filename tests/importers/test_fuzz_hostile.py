"""Hostile input never raises out of an importer (issue 8, line 6).

Two parts:

1. **Known cases**, each once, through the CLI: JSON nested about 1,000 levels deep (a
   RecursionError in choragen, otlp and codex), integers too large for a float (an
   OverflowError in aidf and runr), a pcc database whose schema holds a non-UTF-8 name
   (a UnicodeDecodeError). Each is a warning naming the file and line, counted as a
   skipped record, and the rest of the file is still imported.
2. **A bounded fuzz harness** (hypothesis, derandomized, no example database): every
   importer reads mutations of its real fixtures (truncation, flipped bytes, deep
   nesting, huge numbers, NaN, invalid UTF-8, wrong types). No exception may escape,
   every problem must name the mutated file, and the good records must still be imported:
   for JSON Lines the events of every other line (compared with the same file with the
   mutated line blanked, which keeps every other line's number and so its event ids),
   for whole documents the events of the untouched files beside them.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import re
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from importers import FIXTURES, run_cli
from laptime.importers import get_importer
from laptime.importers.base import ImportResult, run_import
from laptime.importers.choragen import Builder
from laptime.importers.choragen_git import GitEntry, classify, parse_git_log
from laptime.importers.records import MAX_JSON_DEPTH, RecordError, decode_json, too_deep, too_deep_at
from laptime.store import Store

if TYPE_CHECKING:
    from collections.abc import Callable

DEEP_ARRAY = b"[" * 1000 + b"]" * 1000
DEEP_OBJECT = b'{"a":' * 1000 + b"1" + b"}" * 1000
HUGE = b"1" + b"0" * 400  # an integer; float() of it raises OverflowError

# -- helpers -----------------------------------------------------------------------------


def _import(store_root: Path, fmt: str, *paths: Path) -> ImportResult:
    return run_import(Store(store_root), get_importer(fmt), list(paths), quiet=True)


def _ids(store_root: Path) -> set[str]:
    """The ids of every event in a store's log."""
    out: set[str] = set()
    for segment in sorted((store_root / "log").glob("*.jsonl")):
        for line in segment.read_bytes().splitlines():
            if line.strip():
                out.add(json.loads(line)["id"])
    return out


_CLAUDE: list[bytes] = []  # the generated session, made once


def _claude_session(tmp: Path) -> Path:
    """A session log from the realistic generator (fixtures/claude-code/generate.py)."""
    if not _CLAUDE:
        spec = importlib.util.spec_from_file_location("cc_generate", FIXTURES / "claude-code" / "generate.py")
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.generate(tmp / "cc", target_bytes=6_000, filler_scale=0.02, turns=(3, 5))
        _CLAUDE.append(min((tmp / "cc" / "projects").rglob("*.jsonl")).read_bytes())
    out = tmp / "claude.jsonl"
    out.write_bytes(_CLAUDE[0])
    return out


def _problems(result: ImportResult) -> list[tuple[str, int | None, str]]:
    return [(p.file, p.line, p.message) for p in result.problems]


# -- 1. the known cases -------------------------------------------------------------------


def _with_line(src: Path, dest: Path, line_no: int, new_line: bytes) -> Path:
    lines = src.read_bytes().splitlines(keepends=True)
    lines[line_no - 1] = new_line + b"\n"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(b"".join(lines))
    return dest


def _field_inside(line: bytes, value: bytes) -> bytes:
    """``line`` (a JSON object) with one more field, ``"zz": value``, first."""
    return line[:1] + b'"zz":' + value + b"," + line[1:]


CODEX = next((FIXTURES / "codex" / "sessions").rglob("*.jsonl"))
LINE_CASES = [
    ("choragen", FIXTURES / "choragen" / "synthetic.jsonl", "events.jsonl", DEEP_ARRAY),
    ("choragen", FIXTURES / "choragen" / "synthetic.jsonl", "events.jsonl", None),
    ("otlp", FIXTURES / "otlp" / "batches.jsonl", "batches.jsonl", DEEP_ARRAY),
    ("otlp", FIXTURES / "otlp" / "batches.jsonl", "batches.jsonl", None),
    ("codex", CODEX, "rollout.jsonl", DEEP_ARRAY),
    ("codex", CODEX, "rollout.jsonl", None),  # deep inside an object: msgspec's typed decoder
    ("runr", FIXTURES / "runr" / "runs" / "20260105090000" / "timeline.jsonl", "r1/timeline.jsonl", None),
]


@pytest.mark.parametrize(
    ("fmt", "src", "name", "line"),
    LINE_CASES,
    ids=[f"{c[0]}-{'array' if c[3] else 'in-object'}" for c in LINE_CASES],
)
def test_json_nested_1000_deep_is_one_bad_record(
    fmt: str, src: Path, name: str, line: bytes | None, tmp_path: Path
) -> None:
    second = src.read_bytes().splitlines()[1]
    hostile = _with_line(src, tmp_path / "in" / name, 2, line or _field_inside(second, DEEP_OBJECT))
    blanked = _with_line(src, tmp_path / "blank" / name, 2, b"")
    expected = _import(tmp_path / "expected", fmt, blanked)
    result = run_cli(Store(tmp_path / "store"), "import", fmt, str(hostile), "--json")
    assert result.exit_code == 0, (result.output, result.stderr)
    summary = json.loads(result.stdout)["imports"][0]
    message = f"JSON nested more than {MAX_JSON_DEPTH} levels deep; skipped unparsed"
    assert summary["problems"] == [{"file": str(hostile), "line": 2, "message": message}]
    assert summary["skipped_records"] == 1
    assert summary["events_new"] == expected.events_new > 0  # every other line still counts


def _aidf_with(tmp: Path, key: bytes, value: bytes) -> Path:
    root = shutil.copytree(FIXTURES / "aidf", tmp / "aidf")
    report = root / ".ai" / "reports" / "2026-01-05" / "run-3f2a9c1e.json"
    data = report.read_bytes()
    found = re.search(rb'"' + key + rb'":\s*(\d+)', data)
    assert found is not None
    report.write_bytes(data[: found.start(1)] + value + data[found.end(1) :])
    return report


def test_an_aidf_number_too_large_for_a_float_is_a_warning(tmp_path: Path) -> None:
    report = _aidf_with(tmp_path, b"totalDurationMs", HUGE)
    line = report.read_bytes()[: report.read_bytes().index(HUGE)].count(b"\n") + 1
    other = tmp_path / "aidf" / "extra" / "run-7c41d2e0.json"
    result = run_cli(Store(tmp_path / "store"), "import", "aidf", str(tmp_path / "aidf"), str(other), "--json")
    assert result.exit_code == 0, (result.output, result.stderr)
    summary = json.loads(result.stdout)["imports"][0]
    assert [(p["file"], p["line"], p["message"]) for p in summary["problems"]] == [
        (str(report), line, "`totalDurationMs`: an integer of about 401 digits is out of range")
    ]
    assert summary["skipped_records"] == 1
    alone = _import(tmp_path / "other", "aidf", FIXTURES / "aidf" / "extra" / "run-7c41d2e0.json")
    assert summary["events_new"] == alone.events_new > 0  # the other report is imported whole


def test_a_runr_number_too_large_for_a_float_is_a_warning(tmp_path: Path) -> None:
    src = FIXTURES / "runr" / "runs" / "20260105090000" / "timeline.jsonl"
    lines = src.read_bytes().splitlines()
    number = next(i for i, line in enumerate(lines, start=1) if b'"duration_ms":' in line)
    hostile_line = re.sub(rb'"duration_ms":\s*\d+', b'"duration_ms":' + HUGE, lines[number - 1])
    hostile = _with_line(src, tmp_path / "in" / "r1" / "timeline.jsonl", number, hostile_line)
    blanked = _with_line(src, tmp_path / "blank" / "r1" / "timeline.jsonl", number, b"")
    expected = _import(tmp_path / "expected", "runr", blanked)
    result = run_cli(Store(tmp_path / "store"), "import", "runr", str(hostile), "--json")
    assert result.exit_code == 0, (result.output, result.stderr)
    summary = json.loads(result.stdout)["imports"][0]
    assert [(p["file"], p["line"], p["message"]) for p in summary["problems"]] == [
        (str(hostile), number, "`duration_ms`: an integer of about 401 digits is out of range")
    ]
    assert summary["events_new"] == expected.events_new > 0


def _pcc_db(path: Path, extra_column: str = "note") -> Path:
    db = sqlite3.connect(path)
    db.executescript(
        f"""CREATE TABLE runs (id TEXT PRIMARY KEY, status TEXT, created_at TEXT, started_at TEXT, finished_at TEXT);
           CREATE TABLE run_phase_metrics (id TEXT PRIMARY KEY, run_id TEXT NOT NULL, phase TEXT NOT NULL,
             iteration INTEGER NOT NULL DEFAULT 1, started_at TEXT NOT NULL, ended_at TEXT, duration_seconds INTEGER,
             outcome TEXT, metadata TEXT, "{extra_column}" TEXT);
           INSERT INTO runs VALUES ('r1', 'completed', NULL, '2026-01-12 10:00:00', '2026-01-12 10:05:00');
           INSERT INTO run_phase_metrics VALUES
             ('p1', 'r1', 'builder', 1, '2026-01-12 10:00:00', '2026-01-12 10:04:00', 240, 'success',
              '{{"model": "gpt"}}', 'x'),
             ('p2', 'r1', 'test', 1, '2026-01-12 10:04:00', '2026-01-12 10:05:00', 60, 'success', NULL, 'y');"""
    )
    db.commit()
    db.close()
    return path


def test_a_pcc_schema_with_a_non_utf8_name_is_a_warning(tmp_path: Path) -> None:
    """sqlite3 decodes result column names as strict UTF-8: ``SELECT *`` raised
    UnicodeDecodeError for a corrupt schema. The bad column is reported and left out."""
    clean = _pcc_db(tmp_path / "clean.db", "notee")
    expected = _import(tmp_path / "expected", "pcc", clean)
    corrupt = _pcc_db(tmp_path / "corrupt.db", "notee")
    corrupt.write_bytes(corrupt.read_bytes().replace(b'"notee"', b'"not\xff\xfe"'))
    result = run_cli(Store(tmp_path / "store"), "import", "pcc", str(corrupt), "--json")
    assert result.exit_code == 0, (result.output, result.stderr)
    summary = json.loads(result.stdout)["imports"][0]
    assert [(p["file"], p["line"], p["message"]) for p in summary["problems"]] == [
        (
            str(corrupt),
            None,
            "table `run_phase_metrics`: column 10 has a name that is not UTF-8 (not\\xff\\xfe); ignored",
        )
    ]
    assert summary["skipped_records"] == 1
    assert summary["events_new"] == expected.events_new > 0


def test_pcc_values_that_are_not_utf8_are_read_with_replacement(tmp_path: Path) -> None:
    db_path = _pcc_db(tmp_path / "x.db")
    db = sqlite3.connect(db_path)
    db.execute("UPDATE run_phase_metrics SET metadata = CAST(x'7b2261223a22ff227d' AS TEXT) WHERE id = 'p1'")
    db.execute("UPDATE run_phase_metrics SET phase = CAST(x'6275696c64ff' AS TEXT) WHERE id = 'p2'")
    db.commit()
    db.close()
    result = run_cli(Store(tmp_path / "store"), "import", "pcc", str(db_path), "--json")
    assert result.exit_code == 0, (result.output, result.stderr)
    assert json.loads(result.stdout)["imports"][0]["problems"] == []


def test_an_integer_past_64_bits_never_reaches_the_log(tmp_path: Path) -> None:
    """claude-code reads token counts of any size. One past 2**63 in the log made every
    later index update fail with OverflowError (SQLite integers are 64-bit): the store
    was unusable. The shared appender refuses such an event as a bad record."""
    session = _claude_session(tmp_path)
    lines = session.read_bytes().splitlines()
    at = next(i for i, line in enumerate(lines) if b'"output_tokens":' in line)
    lines[at] = re.sub(rb'"output_tokens":\d+', b'"output_tokens":' + b"9" * 20, lines[at])
    session.write_bytes(b"\n".join(lines) + b"\n")
    store = Store(tmp_path / "store")
    result = run_cli(store, "import", "claude-code", str(session), "--json")
    assert result.exit_code == 0, (result.output, result.stderr)
    summary = json.loads(result.stdout)["imports"][0]
    assert [(p["file"], p["line"], p["message"]) for p in summary["problems"]] == [
        (str(session), at + 1, f"`output_tokens` {'9' * 20} does not fit a 64-bit integer; record skipped")
    ]
    assert summary["events_new"] > 0
    # the store still works: the index takes the log, and a report reads it
    report = run_cli(store, "report", "list", "--json")
    assert report.exit_code == 0, (report.output, report.stderr)


def test_depth_helpers() -> None:
    assert not too_deep(b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH)
    assert too_deep_at(b" " + b"[" * (MAX_JSON_DEPTH + 1)) == MAX_JSON_DEPTH + 1
    # brackets inside strings do not nest
    assert not too_deep(json.dumps(["[" * 5000, "{" * 5000]).encode())
    assert too_deep(json.dumps({"k": '\\"[', "v": [[[[[]]]]]}).encode().replace(b"[[[[[]]]]]", DEEP_ARRAY))
    with pytest.raises(RecordError, match="nested more than"):
        decode_json(DEEP_OBJECT)


# -- 2. the fuzz harness ------------------------------------------------------------------

_VALUE_RE = re.compile(rb'"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null')
_REPLACEMENTS: dict[str, Callable[[st.DataObject], bytes]] = {
    "deep": lambda data: data.draw(st.sampled_from([b"[", b'{"a":['])) * data.draw(st.integers(200, 3000)),
    "huge": lambda data: data.draw(st.sampled_from([b"", b"-"])) + b"9" * data.draw(st.integers(17, 4400)),
    "nan": lambda data: data.draw(st.sampled_from([b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1e999"])),
    "utf8": lambda data: b'"' + data.draw(st.sampled_from([b"\xff\xfe", b"\xc3", b"\xed\xa0\x80", b"\\ud800"])) + b'"',
    "type": lambda data: data.draw(
        st.sampled_from([b"[]", b"{}", b'"x"', b"true", b"null", b"1.5", b"-1", b"0", b'""', b"[1,2]"])
    ),
}


def _close_deep(value: bytes) -> bytes:
    """A deep opener made into valid JSON: the same depth closed again."""
    if value.startswith(b'{"a":['):
        depth = value.count(b'{"a":[')
        return value + b"1" + b"]}" * depth
    return value + b"]" * value.count(b"[")


def mutate(data: bytes, draw: st.DataObject) -> bytes:
    """One hostile change to ``data`` (a JSON line or document)."""
    kind = draw.draw(st.sampled_from(["truncate", "flip", *_REPLACEMENTS]), label="mutation")
    if kind == "truncate":
        return data[: draw.draw(st.integers(0, max(0, len(data) - 1)))]
    if kind == "flip":
        out = bytearray(data)
        for _ in range(draw.draw(st.integers(1, 4))):
            at = draw.draw(st.integers(0, max(0, len(out) - 1)))
            if out:
                out[at] ^= draw.draw(st.integers(1, 255))
        return bytes(out)
    values = list(_VALUE_RE.finditer(data))
    if not values:
        return data + b"x"
    target = values[draw.draw(st.integers(0, len(values) - 1))]
    new = _REPLACEMENTS[kind](draw)
    if kind == "deep" and draw.draw(st.booleans()):
        new = _close_deep(new)  # well-formed but deep, as well as unterminated
    return data[: target.start()] + new + data[target.end() :]


@dataclass(frozen=True)
class LineFixture:
    fmt: str
    name: str  # where the file goes (runr needs its run folder)
    source: Callable[[Path], Path]


def _fixed(path: Path) -> Callable[[Path], Path]:
    return lambda _tmp: path


LINE_FORMATS = [
    LineFixture("choragen", "events.jsonl", _fixed(FIXTURES / "choragen" / "synthetic.jsonl")),
    LineFixture("runr", "r1/timeline.jsonl", _fixed(FIXTURES / "runr" / "runs" / "20260105090000" / "timeline.jsonl")),
    LineFixture("codex", "rollout.jsonl", _fixed(CODEX)),
    LineFixture("otlp", "batches.jsonl", _fixed(FIXTURES / "otlp" / "batches.jsonl")),
    LineFixture("claude-code", "session.jsonl", _claude_session),
]

FUZZ = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _check_problems(result: ImportResult, *files: Path) -> None:
    names = {str(f) for f in files}
    for problem in result.problems:
        assert problem.file in names, problem
        assert problem.message, problem


_counter = iter(range(10**9))


def _fresh(tmp_path: Path) -> Path:
    out = tmp_path / f"x{next(_counter)}"
    out.mkdir()
    return out


@pytest.mark.parametrize("fixture", LINE_FORMATS, ids=[f.fmt for f in LINE_FORMATS])
@FUZZ
@given(data=st.data())
def test_fuzz_jsonl_importers(fixture: LineFixture, data: st.DataObject, tmp_path: Path) -> None:
    work = _fresh(tmp_path)
    lines = fixture.source(work).read_bytes().splitlines(keepends=True)
    at = data.draw(st.integers(0, len(lines) - 1), label="line")
    whole_file_cut = data.draw(st.booleans(), label="cut the file here") and at == len(lines) - 1
    hostile_line = mutate(lines[at].rstrip(b"\n"), data)
    hostile = work / "in" / fixture.name
    hostile.parent.mkdir(parents=True)
    blank = work / "blank" / fixture.name
    blank.parent.mkdir(parents=True)
    if whole_file_cut:
        hostile.write_bytes(b"".join(lines[:at]) + hostile_line)  # a last line with no newline
    else:
        hostile.write_bytes(b"".join(lines[:at]) + hostile_line + b"\n" + b"".join(lines[at + 1 :]))
    blank.write_bytes(b"".join(lines[:at]) + b"\n" + b"".join(lines[at + 1 :]))

    result = _import(work / "store", fixture.fmt, hostile)  # must not raise
    _check_problems(result, hostile)
    expected = _import(work / "expected", fixture.fmt, blank)
    got = _ids(work / "store")
    if any(p.line == at + 1 for p in result.problems) or (whole_file_cut and fixture.fmt != "choragen"):
        # the hostile line was refused (or left for later): everything else is there
        missing = _ids(work / "expected") - got
        if fixture.fmt in ("choragen", "otlp", "codex"):
            assert not missing, (missing, _problems(result))
        else:
            # runr ends a phase at the next phase_start: without that line an end may
            # move. claude-code keeps one copy of a response written over several lines,
            # the one with the most tokens: a hostile copy that wins and is then refused
            # (a count past 64 bits) takes its response with it.
            assert len(missing) <= 1, (missing, _problems(result))
    assert result.events_new + result.events_already_stored >= min(expected.events_new, 1)


@dataclass(frozen=True)
class DocFixture:
    fmt: str
    hostile: str  # the file that is mutated, relative to the copied tree
    tree: Callable[[Path], Path]  # copies the tree under the given folder; returns its root
    good: tuple[str, ...]  # files whose events must survive


def _copy(name: str) -> Callable[[Path], Path]:
    return lambda tmp: shutil.copytree(FIXTURES / name, tmp / name)


def _runr_tree(tmp: Path) -> Path:
    return shutil.copytree(FIXTURES / "runr" / "runs", tmp / "runs")


DOC_FORMATS = [
    DocFixture("aidf", ".ai/reports/2026-01-05/run-3f2a9c1e.json", _copy("aidf"), ("extra/run-7c41d2e0.json",)),
    DocFixture("runr", "20260105090000/state.json", _runr_tree, ("20260105090000/timeline.jsonl",)),
    DocFixture("otlp", "trace.json", _copy("otlp"), ("batches.jsonl",)),
    DocFixture(
        "langgraph-logs",
        "llm_logs/response_20251206_224302.json",
        _copy("langgraph-logs"),
        ("llm_logs/request_20251206_224239.json", "llm_logs/response_20251206_224239.json"),
    ),
]


@pytest.mark.parametrize("fixture", DOC_FORMATS, ids=[f.fmt for f in DOC_FORMATS])
@FUZZ
@given(data=st.data())
def test_fuzz_document_importers(fixture: DocFixture, data: st.DataObject, tmp_path: Path) -> None:
    work = _fresh(tmp_path)
    root = fixture.tree(work / "in")
    target = root / fixture.hostile
    target.write_bytes(mutate(target.read_bytes(), data))
    result = _import(work / "store", fixture.fmt, root, *(root / name for name in fixture.good))  # must not raise
    _check_problems(result, target)
    good_root = fixture.tree(work / "good")
    for name in fixture.good:
        (good_root / fixture.hostile).unlink(missing_ok=True)
        _import(work / "expected", fixture.fmt, good_root / name)
    # the documents beside the hostile one are imported whole
    assert not _ids(work / "expected") - _ids(work / "store"), _problems(result)


_HOSTILE_SQL_VALUES = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.binary(max_size=20),
    st.text(max_size=20),
    st.sampled_from(["9" * 400, "NaN", "{}", "[]", '{"a":' * 500, "2026-13-45 99:99:99", "null", "\x00"]),
    st.none(),
)
_PHASE_COLUMNS = ("id", "run_id", "phase", "iteration", "started_at", "ended_at", "duration_seconds", "outcome")


@FUZZ
@given(
    column=st.sampled_from([*_PHASE_COLUMNS, "metadata"]),
    value=_HOSTILE_SQL_VALUES,
    table=st.sampled_from(["run_phase_metrics", "runs"]),
    flip=st.none() | st.tuples(st.integers(100, 8191), st.integers(1, 255)),
)
def test_fuzz_pcc(column: str, value: Any, table: str, flip: tuple[int, int] | None, tmp_path: Path) -> None:
    work = _fresh(tmp_path)
    clean = _pcc_db(work / "clean.db")
    expected = _import(work / "expected", "pcc", clean)
    hostile = _pcc_db(work / "hostile.db")
    db = sqlite3.connect(hostile)
    try:
        _put_hostile_row(db, table, column, value)
    except sqlite3.IntegrityError:
        reject()  # the schema itself refuses the value (NULL in a NOT NULL column)
    db.commit()
    db.close()
    if flip is not None:
        data = bytearray(hostile.read_bytes())
        data[flip[0] % len(data)] ^= flip[1]
        hostile.write_bytes(bytes(data))
    result = _import(work / "store", "pcc", hostile)  # must not raise
    _check_problems(result, hostile)
    if flip is None and column not in ("id", "run_id"):
        # a hostile extra row costs that row only; the clean rows' events are all there
        assert not _ids(work / "expected") - _ids(work / "store"), _problems(result)
    assert expected.events_new > 0


def _put_hostile_row(db: sqlite3.Connection, table: str, column: str, value: Any) -> None:
    if table == "runs":
        column = column if column in ("id", "started_at", "status") else "finished_at"
        db.execute("INSERT INTO runs (id, status, started_at) VALUES ('r2', 'completed', '2026-01-12 11:00:00')")
        db.execute(f"UPDATE runs SET \"{column}\" = ? WHERE id = 'r2'", (value,))
    else:
        db.execute(
            "INSERT INTO run_phase_metrics (id, run_id, phase, started_at) VALUES ('p3', 'r1', 'merge', '2026-01-12')"
        )
        db.execute(f"UPDATE run_phase_metrics SET \"{column}\" = ? WHERE id = 'p3'", (value,))


_GIT_LOG = (
    "commit:" + "a" * 40 + "\t2025-12-07T10:00:00+00:00\n"
    "\n"
    "A\tdocs/tasks/.chains/CHAIN-001-x.json\n"
    "A\tdocs/tasks/todo/CHAIN-001-x/001-a.md\n"
    "A\tdocs/requests/change-requests/todo/CR-20251207-001-x.md\n"
    "commit:" + "b" * 40 + "\t2025-12-07T11:00:00+00:00\n"
    "\n"
    "R100\tdocs/tasks/todo/CHAIN-001-x/001-a.md\tdocs/tasks/done/CHAIN-001-x/001-a.md\n"
    "R100\tdocs/requests/change-requests/todo/CR-20251207-001-x.md\t"
    "docs/requests/change-requests/done/CR-20251207-001-x.md\n"
)


@FUZZ
@given(data=st.data())
def test_fuzz_choragen_git_log(data: st.DataObject) -> None:
    """choragen-git reads `git log` output, not files: its parser and the Choragen
    mapping take mutated output without raising (a line they cannot read is a
    warning string)."""
    text = mutate(_GIT_LOG.encode(), data).decode("utf-8", "replace")
    builder = Builder(Path("repo"), {})
    for item in parse_git_log(text):
        if isinstance(item, GitEntry):
            record = classify(item)
            if record is not None:
                with contextlib.suppress(RecordError):  # a duplicate id: the importer warns
                    builder.events(record, f"{item.commit}:{item.path}")
        else:
            assert isinstance(item, str)


def test_the_log_written_by_a_hostile_import_is_valid(tmp_path: Path) -> None:
    """Whatever the importers accepted from hostile input, the log stays readable."""
    src = FIXTURES / "choragen" / "synthetic.jsonl"
    lines = src.read_bytes().splitlines()
    hostile = tmp_path / "events.jsonl"
    hostile.write_bytes(
        b"\n".join(
            [*lines[:3], _field_inside(lines[3], b"1" + b"0" * 300), lines[4].replace(b'"', b"\xff", 1), *lines[5:]]
        )
        + b"\n"
    )
    result = _import(tmp_path / "store", "choragen", hostile)
    assert result.events_new > 0
    assert [p.line for p in result.problems] == [5]  # the line whose quote became \xff
    for segment in sorted((tmp_path / "store" / "log").glob("*.jsonl")):
        for line in segment.read_bytes().splitlines():
            json.loads(line)
